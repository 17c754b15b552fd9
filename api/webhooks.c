/* SPDX-License-Identifier: MIT
 *
 * webhooks: the endpoints a tenant registers. Deleting is soft (deliveries and attempts keep
 * pointing at the row for audit); a deleted webhook answers 404 like one that never existed.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "cursor.h"
#include "log.h"
#include "offload.h"
#include "quota.h"
#include "routes.h"
#include "sign.h"
#include "validate.h"

/* The request's webhook body, checked into in (required fields only when creating): the
 * body in borrows from, which the caller puts, or NULL after answering 422. */
static json_object *read_input(struct req *r, bool creating, struct ph_webhook_input *in)
{
	struct ph_verr v;
	json_object *body = req_body_object(r);
	if (!body)
		return NULL;
	ph_verr_init(&v);
	ph_validate_webhook(&v, body, creating, in);
	if (req_valid(r, &v))
		return body;
	json_object_put(body);
	return NULL;
}

/* Signing secrets at rest: encrypted when PGHOOK_SECRET_KEY is set (common/crypto.h), bound to
 * their tenant and webhook. The SQL renderer pghook_webhook_json shows the stored value, so
 * every answer that holds a webhook goes through reveal() to show the plaintext instead. */
static char *seal(struct req *r, const char *secret, const char *webhook_id)
{
	return secret ? ph_crypto_seal(&r->ctx->cfg->crypto, secret, r->tenant_id, webhook_id)
		      : NULL;
}

static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* A webhook's JSON with its "secret" decrypted: a new string (caller frees), or NULL with *ok
 * still true when json needs no change; NULL with *ok false (logged) when it does not decrypt. */
static char *reveal(struct req *r, const char *json, bool *ok)
{
	*ok = true;
	if (!strstr(json, "\"" PH_CRYPTO_PREFIX))
		return NULL;
	json_object *obj = NULL;
	if (ph_json_parse(json, strlen(json), &obj) != PH_JSON_OK) {
		log_error("cannot parse a rendered webhook");
		*ok = false;
		return NULL;
	}
	json_object *id = ph_json_get(obj, "id"), *secret = ph_json_get(obj, "secret");
	const char *stored = secret ? json_object_get_string(secret) : NULL;
	char *out = NULL;
	if (id && ph_crypto_is_sealed(stored)) {
		const char *why = NULL;
		char *plain = ph_crypto_open(&r->ctx->cfg->crypto, stored, r->tenant_id,
			json_object_get_string(id), &why);
		if (plain) {
			json_object_object_add(obj, "secret", json_object_new_string(plain));
			out = ph_xstrdup(ph_json_compact(obj, NULL));
			free_secret(plain);
		} else {
			log_error("cannot decrypt the signing secret of webhook %s: %s",
				json_object_get_string(id), why);
			*ok = false;
		}
	}
	json_object_put(obj);
	return out;
}

/* A scheduling limit as an SQL parameter: NULL when absent or null. */
static const char *limit_param(const char *text)
{
	return text[0] ? text : NULL;
}

/* Whether PATCH sets the field (to a value or to null). */
static const char *given(enum ph_field_state st)
{
	return st == PH_FIELD_SET || st == PH_FIELD_NULL ? "t" : "f";
}

/* Answer with the webhook JSON in the first column of res (404 when there is none). */
static void reply_webhook(struct req *r, int status, PGresult *res)
{
	bool ok;
	if (!res && ph_db_failed_with(&r->ctx->db, "PH002")) {
		reply_invalid(r, "body", "subscriptions", "value_error",
			"subscriptions must name types of the tenant's event-type catalog, or \"*\"");
		return;
	}
	if (!res) {
		reply_db_error(r);
		return;
	}
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
		reply_error(r, 404, "not_found", "no such webhook");
	} else {
		char *shown = reveal(r, PQgetvalue(res, 0, 0), &ok);
		if (!ok)
			reply_error(r, 500, "internal", "internal error");
		else if (shown)
			reply_raw(r, status, shown, strlen(shown));
		else
			reply_rendered(
				r, status, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
		free_secret(shown);
	}
	PQclear(res);
}

/* The retrySchedule to store: its bigint[] literal, or NULL (absent or null). */
static const char *retry_param(const struct ph_webhook_input *in)
{
	return in->retry_st == PH_FIELD_SET ? in->retry_schedule : NULL;
}

/* A new signing key of one kind: an HMAC secret, or an ed25519 key pair (common/sign.h). */
struct new_key {
	char secret[PH_SECRET_MAX]; /* whsec_... or whsk_... */
	char public_key[PH_ED25519_KEY_MAX]; /* whpk_..., "" for HMAC */
};

static bool is_ed25519(const char *signature)
{
	return signature && strcmp(signature, "ed25519") == 0;
}

/* False (logged) only when OpenSSL cannot make a key pair. */
static bool make_key(const char *signature, struct new_key *k)
{
	memset(k, 0, sizeof(*k));
	if (!is_ed25519(signature)) {
		ph_secret_new(k->secret);
		return true;
	}
	if (ph_sign_ed25519_keypair(k->secret, k->public_key))
		return true;
	log_error("cannot make an ed25519 key pair");
	return false;
}

void webhooks_create_answering(struct req *r, int status)
{
	struct ph_webhook_input in;
	json_object *body = read_input(r, true, &in);
	if (!body)
		return;
	char id[PH_ID_MAX];
	struct new_key key;
	const char *signature = in.signature ? in.signature : "hmac-sha256";
	ph_id_new(id, "wh");
	if (!make_key(signature, &key)) {
		json_object_put(body);
		reply_error(r, 500, "internal", "internal error");
		return;
	}
	char *stored = seal(r, in.secret ? in.secret : key.secret, id);
	const char *params[] = { id, r->tenant_id, in.url, in.description, in.subscriptions,
		in.email, stored, in.metadata, in.headers, retry_param(&in), signature,
		key.public_key[0] ? key.public_key : NULL, limit_param(in.rate_limit),
		limit_param(in.max_in_flight), in.ordering };
	PGresult *res = ph_db_exec(&r->ctx->db,
		"insert into webhooks (id, tenant_id, url, description, subscriptions,"
		" notification_email, secret, metadata, headers, retry_schedule, signature,"
		" public_key, rate_limit, max_in_flight, ordering)"
		" values ($1, $2, $3, $4,"
		" pghook_catalog_subscriptions($2, array(select json_array_elements_text($5::json))),"
		" $6, $7,"
		" coalesce($8::jsonb, '{}'), nullif($9::jsonb, '{}'), $10::bigint[], $11, $12,"
		" $13::float8, $14::int, coalesce($15, 'none'))"
		" returning pghook_webhook_json(webhooks)",
		15, params);
	free_secret(stored);
	OPENSSL_cleanse(&key, sizeof(key));
	json_object_put(body);
	reply_webhook(r, status, res);
}

void webhooks_create(struct req *r)
{
	webhooks_create_answering(r, 201);
}

static void reply_one(struct req *r, const char *sql, int n, const char *const *params, int status)
{
	reply_webhook(r, status, ph_db_exec(&r->ctx->db, sql, n, params));
}

void webhooks_get(struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	reply_one(r,
		"select pghook_webhook_json(w) from webhooks w"
		" where w.tenant_id = $1 and w.id = $2 and w.deleted_at is null",
		2, params, 200);
}

void webhooks_list(struct req *r)
{
	int limit;
	char cursor[PH_ID_MAX], lim[16];
	if (!req_page(r, "wh", &limit, cursor))
		return;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	const char *params[] = { r->tenant_id, cursor[0] ? cursor : NULL, lim };
	PGresult *res = ph_db_exec(&r->ctx->db,
		"select pghook_webhook_json(w), w.id from webhooks w"
		" where w.tenant_id = $1 and w.deleted_at is null and ($2::text is null or w.id < $2)"
		" order by w.id desc limit $3::int",
		3, params);
	if (!res) {
		reply_db_error(r);
		return;
	}
	reply_list_mapped(r, res, limit, 0, 1, reveal);
	PQclear(res);
}

void webhooks_patch(struct req *r)
{
	struct ph_webhook_input in;
	json_object *body = read_input(r, false, &in);
	if (!body)
		return;
	const char *set_desc = in.description_st == PH_FIELD_ABSENT ? "f" : "t";
	const char *set_email = in.email_st == PH_FIELD_ABSENT ? "f" : "t";
	/* A secret given alone means HMAC signing; a change of kind makes a new key, the old one
	 * signing beside it for 24 hours as after a rotation (SQL below decides: only it knows the
	 * current kind). */
	const char *signature = in.signature ? in.signature : in.secret ? "hmac-sha256" : NULL;
	struct new_key key;
	if (signature && !make_key(signature, &key)) {
		json_object_put(body);
		reply_error(r, 500, "internal", "internal error");
		return;
	}
	char *stored = seal(r, in.secret, r->params[0]);
	char *made = signature ? seal(r, key.secret, r->params[0]) : NULL;
	const char *set_headers = in.headers_st == PH_FIELD_ABSENT ? "f" : "t";
	const char *set_retry = in.retry_st == PH_FIELD_ABSENT ? "f" : "t";
	const char *params[] = { r->tenant_id, r->params[0], in.url, set_desc, in.description,
		in.subscriptions, set_email, in.email, in.metadata, stored, set_headers, in.headers,
		set_retry, retry_param(&in), signature, made,
		signature && key.public_key[0] ? key.public_key : NULL, given(in.rate_limit_st),
		limit_param(in.rate_limit), given(in.max_in_flight_st),
		limit_param(in.max_in_flight), in.ordering };
	/* headers and retrySchedule are replaced whole; null (or {}) clears them. */
	reply_one(r,
		"update webhooks set url = coalesce($3, url),"
		" description = case when $4::bool then $5 else description end,"
		" subscriptions = case when $6::json is null then subscriptions"
		"   else pghook_catalog_subscriptions($1,"
		"     array(select json_array_elements_text($6::json))) end,"
		" notification_email = case when $7::bool then $8 else notification_email end,"
		" metadata = coalesce($9::jsonb, metadata),"
		" headers = case when $11::bool then nullif($12::jsonb, '{}') else headers end,"
		" retry_schedule = case when $13::bool then $14::bigint[] else retry_schedule end,"
		" secret = case when $15::text is null or $15 = signature then coalesce($10, secret)"
		"   else coalesce($10, $16) end,"
		" previous_secret = case when $15 <> signature then secret else previous_secret end,"
		" previous_secret_until = case when $15 <> signature"
		"   then now() + interval '24 hours' else previous_secret_until end,"
		" public_key = case when $15 is null or $15 = signature then public_key"
		"   else $17 end,"
		" signature = coalesce($15, signature),"
		" rate_limit = case when $18::bool then $19::float8 else rate_limit end,"
		" max_in_flight = case when $20::bool then $21::int else max_in_flight end,"
		" ordering = coalesce($22, ordering), updated_at = now()"
		" where tenant_id = $1 and id = $2 and deleted_at is null"
		" returning pghook_webhook_json(webhooks)",
		22, params, 200);
	if (signature)
		OPENSSL_cleanse(&key, sizeof(key));
	free_secret(made);
	free_secret(stored);
	json_object_put(body);
}

void webhooks_delete(struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	PGresult *res =
		ph_db_exec(&r->ctx->db, "select pghook_delete_webhook($1, $2)::int", 2, params);
	if (!res) {
		reply_db_error(r);
		return;
	}
	bool found = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	PQclear(res);
	if (found)
		reply_no_content(r);
	else
		reply_error(r, 404, "not_found", "no such webhook");
}

void webhooks_rotate_secret(struct req *r)
{
	struct new_key hmac, ed;
	/* A key of each kind: the statement keeps the one of the webhook's kind. */
	if (!make_key("hmac-sha256", &hmac) || !make_key("ed25519", &ed)) {
		reply_error(r, 500, "internal", "internal error");
		return;
	}
	char *stored = seal(r, hmac.secret, r->params[0]);
	char *stored_ed = seal(r, ed.secret, r->params[0]);
	OPENSSL_cleanse(&hmac, sizeof(hmac));
	const char *params[] = { r->tenant_id, r->params[0], stored, stored_ed, ed.public_key };
	/* The old secret keeps signing for 24 hours so receivers can roll over without loss. */
	reply_one(r,
		"update webhooks set previous_secret = secret,"
		" previous_secret_until = now() + interval '24 hours',"
		" secret = case when signature = 'ed25519' then $4 else $3 end,"
		" public_key = case when signature = 'ed25519' then $5 end, updated_at = now()"
		" where tenant_id = $1 and id = $2 and deleted_at is null"
		" returning pghook_webhook_json(webhooks)",
		5, params, 200);
	OPENSSL_cleanse(&ed, sizeof(ed));
	free_secret(stored);
	free_secret(stored_ed);
}

static void set_status(struct req *r, const char *status, const char *reason)
{
	const char *params[] = { r->tenant_id, r->params[0], status, reason };
	reply_one(r,
		"update webhooks set status = $3, disabled_reason = $4, updated_at = now()"
		" where tenant_id = $1 and id = $2 and deleted_at is null"
		" returning pghook_webhook_json(webhooks)",
		4, params, 200);
}

void webhooks_enable(struct req *r)
{
	set_status(r, "active", NULL);
}

void webhooks_disable(struct req *r)
{
	set_status(r, "disabled", "disabled by the tenant");
}

struct recover_job {
	struct deferred d; /* first: the job is found from it */
	char webhook_id[PH_ID_MAX], cursor[PH_ID_MAX], limit[16];
	char *since;
	PGresult *res; /* NULL when the statement failed */
	struct ph_db_failure failure;
};

/* On an offload connection (offload.h): a page is a few hundred inserts, too long to hold
 * the loop and the other tenants' requests on it. */
static void recover_page(struct deferred *d)
{
	struct recover_job *j = (struct recover_job *)d;
	const char *params[] = { d->r.tenant_id, j->webhook_id, j->since,
		j->cursor[0] ? j->cursor : NULL, j->limit };
	long long start = ph_now_us();
	/* Only the latest failed delivery of each chain is replayed, never one already replayed. */
	j->res = offload_exec(d->db, d->r.tenant_id,
		"with todo as materialized (select d.id from deliveries d"
		"   where d.tenant_id = $1 and d.webhook_id = $2"
		"   and d.status = 'failed' and d.failed and d.created_at >= $3::timestamptz"
		"   and d.id >= pghook_id_at('dlv', $3::timestamptz)"
		"   and ($4::text is null or d.id > $4)"
		"   and not exists (select 1 from deliveries x where x.replay_of_delivery_id = d.id)"
		"   and exists (select 1 from webhooks w where w.id = $2 and w.deleted_at is null)"
		"   order by d.id limit $5::int + 1),"
		" page as materialized (select id from todo order by id limit $5::int),"
		" done as materialized (select p.id, pghook_replay($1, p.id) as n from page p)"
		" select (select count(*) from webhooks w where w.tenant_id = $1 and w.id = $2"
		"   and w.deleted_at is null),"
		" coalesce((select json_agg(pghook_delivery_json(n) order by id) from done),"
		"   '[]'::json),"
		" case when (select count(*) from todo) > $5::int then (select max(id) from page) end",
		5, params, &j->failure);
	quota_recover_end(d->r.tenant_id, ph_now_us() - start);
}

static void recover_reply(struct req *r, const PGresult *res)
{
	if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
		reply_error(r, 404, "not_found", "no such webhook");
		return;
	}
	struct evbuffer *body = evbuffer_new();
	evbuffer_add(body, "{\"data\":", 8);
	rendered_add(body, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
	if (PQgetisnull(res, 0, 2)) {
		evbuffer_add(body, ",\"nextCursor\":null}", 19);
	} else {
		char next[PH_CURSOR_MAX];
		ph_cursor_encode(PQgetvalue(res, 0, 2), next);
		evbuffer_add_printf(body, ",\"nextCursor\":\"%s\"}", next);
	}
	reply_buffer(r, 202, body);
	evbuffer_free(body);
}

static void recover_job_free(struct recover_job *j)
{
	PQclear(j->res);
	free(j->since);
	free(j);
}

static void recover_done(struct deferred *d)
{
	struct recover_job *j = (struct recover_job *)d;
	if (j->res)
		recover_reply(&d->r, j->res);
	else
		reply_db_failed(
			&d->r, j->failure.sqlstate, j->failure.message, j->failure.conn_lost);
	defer_end(d);
	recover_job_free(j);
}

/* Recover is bounded like a list (?limit=, default 50, at most 250) and resumable: the
 * failed deliveries are replayed oldest first, a page per request, and nextCursor names the
 * last one replayed when more are left. One call used to replay every failure since the
 * given time in one transaction and one answer (issue 18). Each page runs off the loop, and
 * a tenant's pages are paced (quota.h). */
void webhooks_recover(struct req *r)
{
	bool ok = true;
	int limit;
	char cursor[PH_ID_MAX];
	const char *since = req_time_param(r, "since", &ok);
	if (!ok || !req_page(r, "dlv", &limit, cursor))
		return;
	if (!since) {
		reply_invalid(r, "query", "since", "missing", "field required");
		return;
	}
	struct recover_job *j = ph_xcalloc(1, sizeof(*j));
	snprintf(j->webhook_id, sizeof(j->webhook_id), "%s", r->params[0]);
	snprintf(j->cursor, sizeof(j->cursor), "%s", cursor);
	snprintf(j->limit, sizeof(j->limit), "%d", limit);
	j->since = ph_xstrdup(since);
	/* Paced per tenant (quota.h): the page may wait for the tenant's last one to rest. */
	long long delay = quota_recover_begin(r->tenant_id);
	if (!offload_defer(r->ctx->offload, &j->d, r, delay, recover_page, recover_done)) {
		recover_job_free(j);
		reply_error(r, 503, "unavailable", "cannot start the recover, try again");
	}
}
