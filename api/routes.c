/*
 * routes: every route the API serves, with its role policy. A route
 * admits only the roles it lists (default deny); ROUTE_PUBLIC is for
 * health probes and the contract (/openapi.yaml, its reference /docs),
 * ROUTE_OPEN for the public face of task forces (/public/v1/, no token
 * but rate limited, cacheable, off unless CONCORD_PUBLIC=1, and holding
 * nothing personal). GET /v1/admin/routes publishes this table so a
 * test can prove each route is in the OpenAPI contract and guarded.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <stdio.h>
#include <string.h>

#include "api.h"

#define GET	HTTP_METHOD_GET
#define POST	HTTP_METHOD_POST
#define PUT	HTTP_METHOD_PUT
#define PATCH	HTTP_METHOD_PATCH
#define DELETE	HTTP_METHOD_DELETE

/* Who may write a service; SQL narrows providers and case managers. */
#define DIRECTORY_WRITERS	(ROLE_ADMIN | ROLE_COORDINATOR | \
				    ROLE_PROVIDER | ROLE_CASE_MANAGER)

/* Who may read cases (SQL narrows to visible ones) and who holds them. */
#define CASE_READERS		(ROLE_ADMIN | ROLE_COORDINATOR | \
				    ROLE_CASE_MANAGER | ROLE_PROVIDER | \
				    ROLE_INVESTIGATOR | ROLE_PROSECUTOR)
/* Investigators and prosecutors hold the witness records they opened. */
#define CASE_HOLDERS		(ROLE_CASE_MANAGER | ROLE_PROVIDER | \
				    ROLE_INVESTIGATOR | ROLE_PROSECUTOR)
/* Who may send a referral and who answers offers (SQL narrows both). */
#define REFERRAL_SENDERS	(ROLE_HOTLINE | ROLE_COORDINATOR | \
				    ROLE_CASE_MANAGER | ROLE_PROVIDER | \
				    ROLE_INVESTIGATOR | ROLE_PROSECUTOR)
#define OFFER_ANSWERERS		(ROLE_PROVIDER | ROLE_CASE_MANAGER)
#define INVESTIGATION_READERS	(ROLE_ADMIN | ROLE_COORDINATOR | \
				    ROLE_INVESTIGATOR | ROLE_PROSECUTOR)
/* Who reads task force records (SQL: members and coordinators). */
#define TF_READERS		(ROLE_ADMIN | ROLE_COORDINATOR | \
				    ROLE_CASE_MANAGER | ROLE_PROVIDER | \
				    ROLE_INVESTIGATOR | ROLE_PROSECUTOR)
/* Who changes a membership (SQL: coordinators, or the member itself). */
#define TF_MEMBER_WRITERS	TF_READERS
/* Who manages an organization's webhooks (SQL: its own org's only). */
#define WEBHOOK_OWNERS		(ROLE_ADMIN | ROLE_COORDINATOR | \
				    ROLE_CASE_MANAGER | ROLE_PROVIDER)

const struct api_route api_routes[] = {
	{ GET, "/livez", 0, ROUTE_PUBLIC, api_livez, NULL },
	{ GET, "/readyz", 0, ROUTE_PUBLIC, api_readyz, NULL },
	{ GET, "/openapi.yaml", 0, ROUTE_PUBLIC, api_openapi, NULL },
	{ GET, "/docs", 0, ROUTE_PUBLIC, api_docs, NULL },
	/* Public to the router: its own token (metrics.c). */
	{ GET, "/metrics", 0, ROUTE_PUBLIC, api_metrics, NULL },
	{ GET, "/v1/taxonomy/needs", ROLE_ANY, 0, api_taxonomy_needs, NULL },
	{ GET, "/v1/me", ROLE_ANY, 0, NULL, "me" },
	{ GET, "/v1/admin/routes", ROLE_ADMIN, 0, api_routes_list, NULL },
	{ GET, "/v1/admin/debug/sleep", ROLE_ADMIN, 0, api_debug_sleep, NULL },

	/* Partner directory (sql/code/directory.sql, hsds.sql). */
	{ GET, "/v1/organizations", ROLE_ANY, 0, NULL, "org_list" },
	{ POST, "/v1/organizations", ROLE_ADMIN | ROLE_COORDINATOR, ROUTE_BODY,
	    NULL, "org_create" },
	{ GET, "/v1/organizations/{id}", ROLE_ANY, 0, NULL, "org_get" },
	{ PATCH, "/v1/organizations/{id}", ROLE_ANY, ROUTE_BODY, NULL,
	    "org_patch" },
	{ POST, "/v1/organizations/{id}/services", DIRECTORY_WRITERS,
	    ROUTE_BODY, NULL, "service_create" },
	{ GET, "/v1/services", ROLE_ANY, 0, NULL, "service_search" },
	{ GET, "/v1/services/{id}", ROLE_ANY, 0, NULL, "service_get" },
	{ PATCH, "/v1/services/{id}", DIRECTORY_WRITERS, ROUTE_BODY, NULL,
	    "service_patch" },
	{ DELETE, "/v1/services/{id}", DIRECTORY_WRITERS, 0,
	    api_directory_delete, "service_delete" },
	{ PUT, "/v1/services/{id}/capacity", DIRECTORY_WRITERS, ROUTE_BODY,
	    NULL, "service_capacity" },
	/* The HSDA root, with and without the trailing slash. */
	{ GET, "/v1/hsds", ROLE_ANY, 0, NULL, "hsds_root" },
	{ GET, "/v1/hsds/", ROLE_ANY, 0, NULL, "hsds_root" },
	{ GET, "/v1/hsds/services", ROLE_ANY, 0, NULL, "hsds_services" },
	{ GET, "/v1/hsds/services/{id}", ROLE_ANY, 0, NULL, "hsds_service" },
	{ GET, "/v1/hsds/organizations", ROLE_ANY, 0, NULL,
	    "hsds_organizations" },
	{ GET, "/v1/hsds/organizations/{id}", ROLE_ANY, 0, NULL,
	    "hsds_organization" },

	/*
	 * Cases, needs, tasks, consents, investigations, audit
	 * (sql/code/cases.sql, consents.sql, investigations.sql, audit.sql).
	 */
	{ POST, "/v1/cases", ROLE_CASE_MANAGER, ROUTE_BODY, NULL,
	    "case_create" },
	{ GET, "/v1/cases", CASE_READERS, 0, NULL, "case_list" },
	{ GET, "/v1/cases/{id}", CASE_READERS, 0, NULL, "case_get" },
	{ PATCH, "/v1/cases/{id}", CASE_HOLDERS, ROUTE_BODY, NULL,
	    "case_update" },
	{ POST, "/v1/cases/{id}/needs", CASE_HOLDERS, ROUTE_BODY, NULL,
	    "case_need_create" },
	{ GET, "/v1/cases/{id}/needs", CASE_READERS, 0, NULL,
	    "case_need_list" },
	{ GET, "/v1/cases/{id}/needs/{nid}", CASE_READERS, 0, NULL,
	    "case_need_get" },
	{ PATCH, "/v1/cases/{id}/needs/{nid}", CASE_HOLDERS, ROUTE_BODY,
	    NULL, "case_need_update" },
	{ POST, "/v1/cases/{id}/tasks", CASE_HOLDERS | ROLE_COORDINATOR,
	    ROUTE_BODY, NULL, "case_task_create" },
	{ GET, "/v1/cases/{id}/tasks", CASE_READERS, 0, NULL,
	    "case_task_list" },
	{ GET, "/v1/cases/{id}/tasks/{tid}", CASE_READERS, 0, NULL,
	    "case_task_get" },
	{ GET, "/v1/tasks", CASE_READERS, 0, NULL, "task_list" },
	{ PATCH, "/v1/cases/{id}/tasks/{tid}", CASE_READERS & ~ROLE_ADMIN,
	    ROUTE_BODY, NULL, "case_task_update" },
	{ POST, "/v1/cases/{id}/consents", CASE_HOLDERS, ROUTE_BODY, NULL,
	    "case_consent_create" },
	{ GET, "/v1/cases/{id}/consents", CASE_READERS, 0, NULL,
	    "case_consent_list" },
	{ GET, "/v1/cases/{id}/consents/{cid}", CASE_READERS, 0, NULL,
	    "case_consent_get" },
	{ POST, "/v1/cases/{id}/consents/{cid}/revoke",
	    CASE_HOLDERS | ROLE_COORDINATOR | ROLE_ADMIN, 0, NULL,
	    "case_consent_revoke" },
	{ POST, "/v1/cases/{id}/transfer", ROLE_CASE_MANAGER |
	    ROLE_COORDINATOR, ROUTE_BODY, NULL, "case_transfer_request" },
	{ GET, "/v1/cases/{id}/transfer", CASE_READERS, 0, NULL,
	    "case_transfer_get" },
	{ POST, "/v1/cases/{id}/transfer/accept", ROLE_CASE_MANAGER, 0, NULL,
	    "case_transfer_accept" },
	{ POST, "/v1/cases/{id}/transfer/decline", ROLE_CASE_MANAGER, 0, NULL,
	    "case_transfer_decline" },
	{ POST, "/v1/investigations", ROLE_INVESTIGATOR | ROLE_COORDINATOR,
	    ROUTE_BODY, NULL, "investigation_create" },
	{ GET, "/v1/investigations", INVESTIGATION_READERS, 0, NULL,
	    "investigation_list" },
	{ GET, "/v1/investigations/{id}", INVESTIGATION_READERS, 0, NULL,
	    "investigation_get" },
	{ PATCH, "/v1/investigations/{id}", INVESTIGATION_READERS & ~ROLE_ADMIN,
	    ROUTE_BODY, NULL, "investigation_update" },
	{ POST, "/v1/investigations/{id}/cases", INVESTIGATION_READERS &
	    ~ROLE_ADMIN, ROUTE_BODY, NULL, "investigation_case_link" },
	{ GET, "/v1/investigations/{id}/cases", INVESTIGATION_READERS, 0, NULL,
	    "investigation_case_list" },
	{ GET, "/v1/investigations/{id}/cases/{cid}", INVESTIGATION_READERS, 0,
	    NULL, "investigation_case_get" },
	/* A listed agency's investigators answer for it (SQL narrows). */
	{ POST, "/v1/investigations/{id}/participation/accept",
	    ROLE_INVESTIGATOR, 0, NULL, "investigation_participation_accept" },
	{ POST, "/v1/investigations/{id}/participation/decline",
	    ROLE_INVESTIGATOR, 0, NULL, "investigation_participation_decline" },
	/*
	 * The criminal-justice side: needs and their referrals, witness
	 * records, ending participation, key dates (investigations.sql).
	 */
	{ POST, "/v1/investigations/{id}/participation/end",
	    ROLE_INVESTIGATOR | ROLE_PROSECUTOR, 0, NULL,
	    "investigation_participation_end" },
	{ GET, "/v1/investigations/{id}/needs", INVESTIGATION_READERS, 0, NULL,
	    "investigation_need_list" },
	{ POST, "/v1/investigations/{id}/needs", INVESTIGATION_READERS &
	    ~ROLE_ADMIN, ROUTE_BODY, NULL, "investigation_need_create" },
	{ GET, "/v1/investigations/{id}/needs/{nid}", INVESTIGATION_READERS, 0,
	    NULL, "investigation_need_get" },
	{ PATCH, "/v1/investigations/{id}/needs/{nid}", INVESTIGATION_READERS &
	    ~ROLE_ADMIN, ROUTE_BODY, NULL, "investigation_need_update" },
	{ POST, "/v1/investigations/{id}/needs/{nid}/referrals",
	    INVESTIGATION_READERS & ~ROLE_ADMIN, ROUTE_BODY, NULL,
	    "investigation_need_referral_create" },
	{ GET, "/v1/need-referrals", CASE_READERS, 0, NULL,
	    "need_referral_list" },
	{ GET, "/v1/need-referrals/{id}", CASE_READERS, 0, NULL,
	    "need_referral_get" },
	{ POST, "/v1/need-referrals/{id}/accept", CASE_READERS & ~ROLE_ADMIN,
	    0, NULL, "need_referral_accept" },
	{ POST, "/v1/need-referrals/{id}/decline", CASE_READERS & ~ROLE_ADMIN,
	    0, NULL, "need_referral_decline" },
	{ POST, "/v1/investigations/{id}/witnesses", ROLE_INVESTIGATOR |
	    ROLE_PROSECUTOR, ROUTE_BODY, NULL, "investigation_witness_create" },
	{ GET, "/v1/investigations/{id}/dates", INVESTIGATION_READERS, 0, NULL,
	    "investigation_date_list" },
	{ GET, "/v1/investigation-dates", INVESTIGATION_READERS, 0, NULL,
	    "investigation_dates_all" },
	{ GET, "/v1/audit", ROLE_ADMIN | ROLE_COORDINATOR, 0, NULL,
	    "audit_list" },
	{ GET, "/v1/audit/verify", ROLE_ADMIN, 0, NULL, "audit_check" },

	/* Referrals and the job queue (sql/code/referrals.sql, admin.sql). */
	{ POST, "/v1/referrals", REFERRAL_SENDERS, ROUTE_BODY | ROUTE_REFERRALS,
	    NULL, "referral_create" },
	{ GET, "/v1/referrals", REFERRAL_SENDERS | ROLE_ADMIN, 0, NULL,
	    "referral_list" },
	{ GET, "/v1/referrals/{id}", REFERRAL_SENDERS | ROLE_ADMIN, 0, NULL,
	    "referral_get" },
	{ POST, "/v1/referrals/{id}/offers/{oid}/accept", OFFER_ANSWERERS, 0,
	    NULL, "referral_offer_accept" },
	{ POST, "/v1/referrals/{id}/offers/{oid}/decline", OFFER_ANSWERERS,
	    ROUTE_BODY, NULL, "referral_offer_decline" },
	{ POST, "/v1/referrals/{id}/complete", OFFER_ANSWERERS |
	    ROLE_COORDINATOR | ROLE_ADMIN, ROUTE_BODY, NULL,
	    "referral_complete" },
	{ POST, "/v1/referrals/{id}/cancel", REFERRAL_SENDERS | ROLE_ADMIN,
	    ROUTE_BODY, NULL, "referral_cancel" },
	/* Coordinators steer: an offer by hand, matching again. */
	{ POST, "/v1/referrals/{id}/offer", ROLE_COORDINATOR | ROLE_ADMIN,
	    ROUTE_BODY, NULL, "referral_offer" },
	{ POST, "/v1/referrals/{id}/rematch", ROLE_COORDINATOR | ROLE_ADMIN,
	    ROUTE_BODY, NULL, "referral_rematch" },
	/* ...and widen it to more task forces (taskforces: re-matching). */
	{ POST, "/v1/referrals/{id}/widen", ROLE_COORDINATOR | ROLE_ADMIN,
	    ROUTE_BODY, NULL, "referral_widen" },
	/*
	 * Reports (sql/code/reports.sql, api/reports.c): any role may ask
	 * for a coverage report without client counts; SQL keeps the rest
	 * to analysts, coordinators and admins (403 report-forbidden).
	 */
	{ POST, "/v1/reports", ROLE_ANY, ROUTE_BODY, NULL, "report_create" },
	{ GET, "/v1/reports", ROLE_ANY, 0, NULL, "report_list" },
	{ GET, "/v1/reports/{id}", ROLE_ANY, 0, api_report_get, "report_get" },
	{ GET, "/v1/admin/jobs", ROLE_ADMIN, 0, NULL, "admin_jobs" },

	/* Notifications (sql/code/notifications.sql). */
	{ GET, "/v1/notifications", ROLE_ANY, 0, NULL, "notification_list" },
	{ POST, "/v1/notifications/read-all", ROLE_ANY, 0, NULL,
	    "notification_read_all" },
	{ POST, "/v1/notifications/{id:int}/read", ROLE_ANY, 0, NULL,
	    "notification_read" },
	{ POST, "/v1/admin/jobs/{id:int}/retry", ROLE_ADMIN, 0, NULL,
	    "admin_job_retry" },

	/* Outbound webhooks (sql/code/webhooks.sql, api/webhooks.c). */
	{ POST, "/v1/webhooks", WEBHOOK_OWNERS, ROUTE_BODY, api_webhook_create,
	    "webhook_create" },
	{ GET, "/v1/webhooks", WEBHOOK_OWNERS, 0, NULL, "webhook_list" },
	{ GET, "/v1/webhooks/{id}", WEBHOOK_OWNERS, 0, NULL, "webhook_get" },
	{ DELETE, "/v1/webhooks/{id}", WEBHOOK_OWNERS, 0, api_directory_delete,
	    "webhook_delete" },
	{ POST, "/v1/webhooks/{id}/rotate", WEBHOOK_OWNERS, 0,
	    api_webhook_rotate, "webhook_rotate" },
	{ GET, "/v1/webhooks/{id}/deliveries", WEBHOOK_OWNERS, 0, NULL,
	    "webhook_delivery_list" },
	{ POST, "/v1/webhooks/{id}/deliveries/{did}/retry", WEBHOOK_OWNERS, 0,
	    NULL, "webhook_delivery_retry" },

	/*
	 * Task forces, members, agreements, meetings, training records
	 * (sql/code/taskforces.sql): SQL narrows to the task forces the
	 * caller belongs to or coordinates.
	 */
	{ GET, "/v1/task-forces", ROLE_ANY, 0, NULL, "task_force_list" },
	{ POST, "/v1/task-forces", ROLE_ADMIN | ROLE_COORDINATOR, ROUTE_BODY,
	    NULL, "task_force_create" },
	{ GET, "/v1/task-forces/{id}", ROLE_ANY, 0, NULL, "task_force_get" },
	{ PATCH, "/v1/task-forces/{id}", ROLE_ADMIN | ROLE_COORDINATOR,
	    ROUTE_BODY, NULL, "task_force_patch" },
	{ DELETE, "/v1/task-forces/{id}", ROLE_ADMIN, 0, api_directory_delete,
	    "task_force_delete" },
	{ GET, "/v1/task-forces/{id}/members", ROLE_ANY, 0, NULL,
	    "task_force_member_list" },
	{ POST, "/v1/task-forces/{id}/members", ROLE_ADMIN | ROLE_COORDINATOR,
	    ROUTE_BODY, NULL, "task_force_member_create" },
	{ GET, "/v1/task-forces/{id}/members/{mid}", ROLE_ANY, 0, NULL,
	    "task_force_member_get" },
	{ PATCH, "/v1/task-forces/{id}/members/{mid}", TF_MEMBER_WRITERS,
	    ROUTE_BODY, NULL, "task_force_member_patch" },
	{ DELETE, "/v1/task-forces/{id}/members/{mid}", ROLE_ADMIN |
	    ROLE_COORDINATOR, 0, api_directory_delete,
	    "task_force_member_delete" },
	{ GET, "/v1/agreements", TF_READERS, 0, NULL, "agreement_list" },
	{ POST, "/v1/agreements", ROLE_ADMIN | ROLE_COORDINATOR, ROUTE_BODY,
	    NULL, "agreement_create" },
	{ GET, "/v1/agreements/{id}", TF_READERS, 0, NULL, "agreement_get" },
	{ PATCH, "/v1/agreements/{id}", ROLE_ADMIN | ROLE_COORDINATOR,
	    ROUTE_BODY, NULL, "agreement_patch" },
	{ GET, "/v1/meetings", TF_READERS, 0, NULL, "meeting_list" },
	{ POST, "/v1/meetings", ROLE_ADMIN | ROLE_COORDINATOR, ROUTE_BODY,
	    NULL, "meeting_create" },
	{ GET, "/v1/meetings/{id}", TF_READERS, 0, NULL, "meeting_get" },
	{ PATCH, "/v1/meetings/{id}", ROLE_ADMIN | ROLE_COORDINATOR,
	    ROUTE_BODY, NULL, "meeting_patch" },
	{ GET, "/v1/trainings", TF_READERS, 0, NULL, "training_list" },
	{ POST, "/v1/trainings", ROLE_ADMIN | ROLE_COORDINATOR, ROUTE_BODY,
	    NULL, "training_create" },
	/* The public face: no token, nothing personal, off by default. */
	{ GET, "/public/v1/task-forces/{id}", 0, ROUTE_OPEN, api_public,
	    "public_task_force" },
	{ GET, "/public/v1/task-forces/{id}/hsds", 0, ROUTE_OPEN, api_public,
	    "public_task_force_hsds" },
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

int
api_routes_list(struct http_request *req, struct api_call *c)
{
	json_t		*items, *roles;
	char		 path[256], *colon;
	size_t		 i;
	uint32_t	 bit;

	(void)c;
	items = json_array();
	for (i = 0; i < api_nroutes; i++) {
		roles = json_array();
		for (bit = 1; bit <= ROLE_ANALYST; bit <<= 1) {
			if (api_routes[i].roles & bit)
				json_array_append_new(roles,
				    json_string(auth_role_name(bit)));
		}
		/* The contract spells {id:int} as {id}. */
		snprintf(path, sizeof(path), "%s", api_routes[i].pattern);
		if ((colon = strstr(path, ":int}")) != NULL)
			memmove(colon, colon + 4, strlen(colon + 4) + 1);
		json_array_append_new(items, json_pack("{s:s, s:s, s:b, s:o}",
		    "method", http_method_text(api_routes[i].method),
		    "path", path,
		    "public", (api_routes[i].flags & (ROUTE_PUBLIC |
		    ROUTE_OPEN)) != 0,
		    "roles", roles));
	}
	return (api_respond_json(req, 200, json_pack("{s:o}", "items",
	    items)));
}
