/* The registry's 401 answered: basic auth, or a bearer token from the realm
 * the challenge names (anonymously, with basic credentials, or with an
 * OAuth2 refresh token: docker's identity token). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/cleanup.h"
#include "lib/encoding/base64.h"
#include "vmm/image/oci/registry_impl.h"

static int basic_header(const struct oci_cred *c, char *out, size_t size)
{
        char plain[OCI_CRED_MAX * 2 + 2];
        char *b64 = NULL;
        snprintf(plain, sizeof(plain), "%s:%s", c->username, c->password);
        int r = base64_encode_alloc(plain, strlen(plain), &b64);
        memset(plain, 0, sizeof(plain));
        if (r < 0)
                return r;
        if ((size_t)snprintf(out, size, "Basic %s", b64) >= size)
                r = -E2BIG;
        memset(b64, 0, strlen(b64));
        free(b64);
        return r;
}

/* "service=S&scope=A&scope=B" (escaped) for the token request. */
static int token_query(struct oci_registry *r, const struct oci_challenge *ch, char **ret)
{
        char own[OCI_REF_NAME_MAX + 32];
        snprintf(own, sizeof(own), "repository:%s:%s", r->repo, r->o.push ? "pull,push" : "pull");
        _cleanup_free_ char *service = NULL, *scope = NULL, *scope2 = NULL;
        if (oci_http_escape(r->http, ch->service, &service) < 0 || oci_http_escape(r->http, own, &scope) < 0 ||
            oci_http_escape(r->http, ch->scope, &scope2) < 0)
                return -ENOMEM;
        bool extra = ch->scope[0] && strcmp(ch->scope, own) != 0;
        if (asprintf(ret, "%s%s%sscope=%s%s%s", ch->service[0] ? "service=" : "", service, ch->service[0] ? "&" : "",
                     scope, extra ? "&scope=" : "", extra ? scope2 : "") < 0)
                return -ENOMEM;
        return 0;
}

static int fetch_token(struct oci_registry *r, const struct oci_challenge *ch, struct ak_error *err)
{
        char scheme[8], hostport[OCI_REF_NAME_MAX + 16];
        if (oci_http_url_origin(ch->realm, scheme, sizeof(scheme), hostport, sizeof(hostport)) < 0)
                return ak_error_set(err, -EINVAL, "registry %s: token realm \"%s\" is not an http(s) URL", r->host,
                                    ch->realm);
        if (strcmp(scheme, "http") == 0 && !oci_registry_insecure_allowed(hostport, r->o.insecure, r->o.n_insecure))
                return ak_error_set(err, -EPERM, "registry %s: token realm %s is plain http: refused (only loopback "
                                    "and --insecure-registry hosts may be reached without TLS)", r->host, ch->realm);
        _cleanup_free_ char *query = NULL, *url = NULL, *form = NULL, *refresh = NULL;
        if (token_query(r, ch, &query) < 0)
                return ak_error_set(err, -ENOMEM, "out of memory");
        char auth[OCI_CRED_MAX * 3];
        bool identity = r->have_cred && r->cred.identity_token[0];
        struct oci_http_req req = { .method = "GET" };
        if (identity) {
                /* OAuth2 refresh-token grant, as docker does with identity tokens. */
                if (oci_http_escape(r->http, r->cred.identity_token, &refresh) < 0 ||
                    asprintf(&form, "grant_type=refresh_token&client_id=ak&%s&refresh_token=%s", query, refresh) < 0)
                        return ak_error_set(err, -ENOMEM, "out of memory");
                req.method = "POST";
                req.form = form;
                req.url = ch->realm;
        } else {
                if (asprintf(&url, "%s%s%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?", query) < 0)
                        return ak_error_set(err, -ENOMEM, "out of memory");
                req.url = url;
                if (r->have_cred && basic_header(&r->cred, auth, sizeof(auth)) == 0)
                        req.authorization = auth;
        }
        struct oci_http_resp resp;
        int rc = 0;
        for (int attempt = 1;; attempt++) {
                bool retry = false;
                rc = oci_http_do(r->http, &req, &resp, &retry, NULL, err);
                if (rc == 0 && !registry_status_retryable(resp.status))
                        break;
                if (rc == 0)
                        oci_http_resp_clear(&resp);
                if (attempt >= r->o.max_attempts || (rc < 0 && !retry)) {
                        memset(auth, 0, sizeof(auth));
                        if (rc == 0)
                                rc = ak_error_set(err, -EIO, "token server %s kept failing", hostport);
                        return rc;
                }
                registry_backoff(r, attempt + 1);
        }
        memset(auth, 0, sizeof(auth));
        if (form)
                memset(form, 0, strlen(form));
        if (resp.status == 401 || resp.status == 403) {
                char text[300];
                registry_error_text(&resp, text, sizeof(text));
                oci_http_resp_clear(&resp);
                if (!r->have_cred)
                        return ak_error_set(err, -EACCES, "registry %s: the token server %s refused an anonymous token "
                                            "(%s): log in (docker login) or give --authfile", r->host, hostport, text);
                return ak_error_set(err, -EACCES, "registry %s: the token server %s refused the credentials for "
                                    "user \"%s\" (%s): check the auth file", r->host, hostport,
                                    identity ? "<identity token>" : r->cred.username, text);
        }
        if (resp.status != 200) {
                char text[300];
                registry_error_text(&resp, text, sizeof(text));
                oci_http_resp_clear(&resp);
                return ak_error_set(err, -EPROTO, "registry %s: token server %s answered %ld %s", r->host, hostport,
                                    resp.status, text);
        }
        char *token = malloc(OCI_TOKEN_MAX + 1);
        if (!token) {
                oci_http_resp_clear(&resp);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        rc = oci_token_parse(resp.body ? resp.body : "", resp.body_len, token, err);
        oci_http_resp_clear(&resp);
        if (rc == 0)
                snprintf(r->authorization, sizeof(r->authorization), "Bearer %s", token);
        else
                ak_error_wrap(err, "registry %s: token server %s", r->host, hostport);
        memset(token, 0, OCI_TOKEN_MAX + 1);
        free(token);
        return rc;
}

int registry_authenticate(struct oci_registry *r, const char *challenge, struct ak_error *err)
{
        struct oci_challenge *ch = calloc(1, sizeof(*ch));
        if (!ch)
                return ak_error_set(err, -ENOMEM, "out of memory");
        int rc = oci_challenge_parse(challenge, strlen(challenge), ch, err);
        if (rc < 0) {
                ak_error_wrap(err, "registry %s", r->host);
        } else if (ch->scheme == OCI_AUTH_BASIC) {
                if (!r->have_cred || !r->cred.username[0])
                        rc = ak_error_set(err, -EACCES, "registry %s asks for a user name and password: give them in "
                                          "an auth file (--authfile FILE, or ~/.docker/config.json)", r->host);
                else if (r->authorization[0])
                        rc = ak_error_set(err, -EACCES, "registry %s refused the password of user \"%s\": check the "
                                          "auth file", r->host, r->cred.username);
                else if (basic_header(&r->cred, r->authorization, sizeof(r->authorization)) < 0)
                        rc = ak_error_set(err, -E2BIG, "registry %s: credentials too long", r->host);
        } else {
                rc = fetch_token(r, ch, err);
        }
        free(ch);
        return rc;
}
