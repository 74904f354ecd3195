// One real flow through a client generated from openapi/openapi.yaml
// (openapi-typescript types, openapi-fetch calls), compiled with
// `tsc --strict` and no type assertions: a provider lists a service, a
// hotline operator finds it in the directory, a case manager opens a case
// and records a consent, the hotline sends a referral, the provider
// accepts the offer the worker made and completes it.
// tests/api/test_contract_tools.py builds and runs it; it reads:
//   CONCORD_BASE_URL, TOKEN_PROVIDER, TOKEN_HOTLINE, TOKEN_CASE_MANAGER,
//   PROVIDER_ORG, LAT, LON.
import createClient from "openapi-fetch";
import type { paths, components } from "./schema.js";

type Problem = components["schemas"]["Problem"];

function env(name: string): string {
	const v = process.env[name];
	if (v === undefined || v === "") throw new Error(`${name} is not set`);
	return v;
}

function api(token: string) {
	return createClient<paths>({
		baseUrl: env("CONCORD_BASE_URL"),
		headers: { Authorization: `Bearer ${token}` },
	});
}

// A result's data, or a failure naming the step and the problem.
function need<T>(step: string, r: { data?: T; error?: Problem | unknown; response: Response }): T {
	if (r.data === undefined) {
		throw new Error(`${step}: ${r.response.status} ${JSON.stringify(r.error)}`);
	}
	return r.data;
}

const provider = api(env("TOKEN_PROVIDER"));
const hotline = api(env("TOKEN_HOTLINE"));
const caseManager = api(env("TOKEN_CASE_MANAGER"));
const providerOrg = env("PROVIDER_ORG");
const lat = Number(env("LAT"));
const lon = Number(env("LON"));
const inDays = (d: number): string => new Date(Date.now() + d * 86400000).toISOString();
const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

// 1. The provider lists a service.
const service = need("serviceCreate", await provider.POST("/v1/organizations/{id}/services", {
	params: { path: { id: providerOrg } },
	body: {
		name: "Typed-client food bank",
		needs: ["food"],
		languages: ["en"],
		trafficking_types: ["sex", "labor"],
		open_24_7: true,
		accepts_referrals: true,
		location: { lat, lon, address: null },
		service_area: { center: { lat, lon }, radius_km: 25 },
	},
}));

// 2. Directory search: the hotline finds it (need is repeatable: an array).
const found = need("serviceSearch", await hotline.GET("/v1/services", {
	params: { query: { need: ["food"], near: `${lat},${lon}`, radius_km: 30, limit: 100 } },
}));
if (!found.items.some((s) => s.id === service.id)) throw new Error("directory search missed the service");

// 3. A case with a consent naming the provider.
const kase = need("caseCreate", await caseManager.POST("/v1/cases", {
	body: {
		identified_on: new Date().toISOString().slice(0, 10),
		identified_by: { how: "hotline" },
		jurisdiction: "06037",
		demographics: { age: 30, languages: ["en"], trafficking_type: "labor" },
	},
}));
const consent = need("caseConsentCreate", await caseManager.POST("/v1/cases/{id}/consents", {
	params: { path: { id: kase.id } },
	body: {
		categories: ["needs", "case_details"],
		shared_with_org_id: providerOrg,
		purpose: "Food assistance",
		informed: true,
		written: true,
		form_ref: "FORM-TS-1",
		expires_at: inDays(30),
	},
}));
if (consent.state !== "active") throw new Error(`consent is ${consent.state}`);

// 4. A referral from the hotline (idempotent).
const referral = need("referralCreate", await hotline.POST("/v1/referrals", {
	params: { header: { "Idempotency-Key": `ts-${Date.now()}-${Math.random()}` } },
	body: {
		client: { age: 30, languages: ["en"], trafficking_type: "labor", location: { lat, lon } },
		needs: ["food"],
		urgency: "urgent",
		consent: {
			categories: ["needs", "case_details"],
			expires_at: inDays(30),
			form_ref: "FORM-TS-2",
			informed: true,
			written: true,
		},
	},
}));

// 5. The worker matches it and offers it to the provider's service.
let offerId: string | undefined;
for (let i = 0; i < 200 && offerId === undefined; i++) {
	const seen = need("referralGet", await hotline.GET("/v1/referrals/{id}", {
		params: { path: { id: referral.id } },
	}));
	offerId = seen.offers.find((o) => o.service.id === service.id && o.status === "offered")?.id;
	if (offerId === undefined) await sleep(100);
}
if (offerId === undefined) throw new Error("no offer to the provider's service");

// 6. The provider accepts the offer ...
const accepted = need("referralOfferAccept", await provider.POST("/v1/referrals/{id}/offers/{oid}/accept", {
	params: { path: { id: referral.id, oid: offerId } },
}));
if (accepted.status !== "in_progress") throw new Error(`accepted referral is ${accepted.status}`);

// 7. ... and completes it.
const done = need("referralComplete", await provider.POST("/v1/referrals/{id}/complete", {
	params: { path: { id: referral.id } },
	body: { outcomes: [{ need: "food", outcome: "need_met" }] },
}));
if (done.status !== "completed") throw new Error(`completed referral is ${done.status}`);

console.log(JSON.stringify({ service: service.id, case: kase.id, consent: consent.id, referral: referral.id, status: done.status }));
