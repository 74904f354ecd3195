/*
 * webhook: the worker's delivery of queued webhook events, on a thread
 * of its own with its own database connection, so neither jobs nor a
 * slow receiver hold the other up.
 */
#ifndef CONCORD_WORKER_WEBHOOK_H
#define CONCORD_WORKER_WEBHOOK_H

#include "../common/config.h"

/*
 * Start delivering with cfg's settings (cfg must outlive
 * webhook_stop()). cfg->data_key must be set: secrets are sealed with
 * it. Call after curl_global_init(). Returns 0, or -1 when the thread
 * could not start (logged).
 */
int	webhook_start(const struct concord_config *) CONCORD_WUR;

/*
 * Stop and join the thread; attempts under way are abandoned (their
 * claim lapses and they are attempted again). Can't fail; a no-op when
 * not started.
 */
void	webhook_stop(void);

#endif
