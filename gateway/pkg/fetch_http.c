/* SPDX-License-Identifier: Apache-2.0 */
/* http and https pulls with libcurl (in the fetch process only). */
#include <curl/curl.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "gateway/pkg/pkg_internal.h"

struct http {
	struct pkg_fetch *f;
	CURL *curl;
	int fd;
	uint64_t got;                  /* bytes in the file */
	uint64_t total;                /* announced, 0 unknown */
	enum gw_pkg_result stop;       /* why the write callback refused */
	bool started;                  /* the body began: the validator is recorded */
	char etag[256], modified[256]; /* of the response (the last, after redirects) */
};

/* Copy a header's value (after "Name:") without blanks and CRLF. */
static void header_value(const char *v, size_t n, char *out, size_t size)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= size)
		n = 0; /* too long to keep: as if there were none */
	memcpy(out, v, n);
	out[n] = 0;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	struct http *h = ud;
	size_t n = size * nmemb;

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		h->etag[0] = h->modified[0] = 0; /* a new response (a redirect's next) */
	} else if (n > 5 && strncasecmp(line, "ETag:", 5) == 0) {
		header_value(line + 5, n - 5, h->etag, sizeof(h->etag));
		if (strncmp(h->etag, "W/", 2) == 0)
			h->etag[0] = 0; /* weak: If-Range takes only strong ones */
	} else if (n > 14 && strncasecmp(line, "Last-Modified:", 14) == 0) {
		header_value(line + 14, n - 14, h->modified, sizeof(h->modified));
	}
	return n;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http *h = ud;
	size_t len = size * nmemb;
	curl_off_t cl;

	if (h->total == 0 &&
	    curl_easy_getinfo(h->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl > 0)
		h->total = h->got + (uint64_t)cl;
	if (!h->started) {
		/* What a resume must ask for: this entity (If-Range). */
		const char *v = h->etag[0] ? h->etag : h->modified;
		h->started = true;
		if (strcmp(v, h->f->validator) != 0 && pkg_fetch_set_validator(h->f, v) < 0) {
			h->stop = GW_PKG_NO_SPACE;
			return CURL_WRITEFUNC_ERROR;
		}
	}
	h->stop = pkg_write_at(h->fd, h->got, data, len, h->f->lim.max_size);
	if (h->stop != GW_PKG_OK)
		return CURL_WRITEFUNC_ERROR;
	h->got += len;
	pkg_fetch_progress(h->f, h->got, h->total, 0);
	return len;
}

static void allowed_protocols(unsigned schemes, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", schemes & GW_PKG_HTTP ? "http" : "",
		 (schemes & GW_PKG_HTTP) && (schemes & GW_PKG_HTTPS) ? "," : "",
		 schemes & GW_PKG_HTTPS ? "https" : "");
}

static enum gw_pkg_result curl_result(struct http *h, CURLcode c)
{
	long code = 0;

	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
	switch (c) {
	case CURLE_OK:
		return GW_PKG_OK;
	case CURLE_WRITE_ERROR:
		return h->stop != GW_PKG_OK ? h->stop : GW_PKG_INTEGRITY;
	case CURLE_FILESIZE_EXCEEDED:
		return GW_PKG_NO_SPACE;
	case CURLE_PARTIAL_FILE:
		/* The connection closed before Content-Length bytes came:
		 * the body is not the one announced (pkg.h). */
		return GW_PKG_INTEGRITY;
	case CURLE_OUT_OF_MEMORY:
		return GW_PKG_NO_MEMORY;
	case CURLE_UNSUPPORTED_PROTOCOL:
		return GW_PKG_UNSUPPORTED_PROTOCOL; /* a redirect elsewhere */
	case CURLE_URL_MALFORMAT:
	case CURLE_TOO_MANY_REDIRECTS:
		return GW_PKG_INVALID_URI;
	case CURLE_HTTP_RETURNED_ERROR:
		/* 4xx: the URI names nothing we may have; 5xx: the server's
		 * trouble, maybe passing. */
		return code >= 400 && code < 500 ? GW_PKG_INVALID_URI : GW_PKG_CONN_LOST;
	default:
		return GW_PKG_CONN_LOST; /* DNS, refused, timeout, TLS, reset */
	}
}

static CURLcode perform(struct http *h, const char *uri, uint64_t from)
{
	struct pkg_fetch *f = h->f;
	char protos[16], ifrange[300];
	struct curl_slist *headers = NULL;
	CURLcode c;

	allowed_protocols(f->lim.schemes, protos, sizeof(protos));
	curl_easy_reset(h->curl);
	curl_easy_setopt(h->curl, CURLOPT_URL, uri);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, protos);
	curl_easy_setopt(h->curl, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h->curl, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(h->curl, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "fieldgate/" FIELDGATE_VERSION);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, (long)f->lim.timeout_s);
	/* No progress: fewer than 1 byte/s for timeout seconds. */
	curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_TIME, (long)f->lim.timeout_s);
	/* A Content-Length beyond the limit ends it before any byte. */
	curl_easy_setopt(h->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(f->lim.max_size - from));
	if (f->lim.ca_file)
		curl_easy_setopt(h->curl, CURLOPT_CAINFO, f->lim.ca_file);
	if (from) {
		/* The rest of the same entity, or (200) all of the new one. */
		curl_easy_setopt(h->curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)from);
		snprintf(ifrange, sizeof(ifrange), "If-Range: %s", f->validator);
		headers = curl_slist_append(NULL, ifrange);
		if (!headers)
			return CURLE_OUT_OF_MEMORY;
		curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, headers);
	}
	curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
	h->got = from;
	h->total = 0;
	h->stop = GW_PKG_OK;
	h->started = false;
	h->etag[0] = h->modified[0] = 0;
	c = curl_easy_perform(h->curl);
	curl_slist_free_all(headers);
	return c;
}

enum gw_pkg_result pkg_fetch_http(struct pkg_fetch *f, const struct pkg_uri *u, int fd, uint64_t from)
{
	struct http h = { .f = f, .fd = fd };
	enum gw_pkg_result r;
	CURLcode c;
	long code = 0;

	(void)u;
	/* Without a validator the server could send the rest of another
	 * entity: no resume then. */
	if (from > f->lim.max_size || !f->validator[0]) {
		if (from && ftruncate(fd, 0) < 0)
			return GW_PKG_INTEGRITY;
		from = 0;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(h.curl = curl_easy_init()))
		return GW_PKG_NO_MEMORY;
	c = perform(&h, f->uri, from);
	curl_easy_getinfo(h.curl, CURLINFO_RESPONSE_CODE, &code);
	/* The server cannot resume (no Range support, or the partial file is
	 * not a prefix it knows: 416): from the start. */
	if (from && (c == CURLE_RANGE_ERROR || (c == CURLE_HTTP_RETURNED_ERROR && code == 416))) {
		log_info("%s cannot be resumed at %" PRIu64 ", fetching it whole", f->uri, from);
		if (ftruncate(fd, 0) < 0)
			c = CURLE_WRITE_ERROR;
		else
			c = perform(&h, f->uri, 0);
	}
	if (c != CURLE_OK)
		log_error("Fetching %s: %s", f->uri, curl_easy_strerror(c));
	r = curl_result(&h, c);
	if (r == GW_PKG_OK && h.total && h.got != h.total)
		r = GW_PKG_INTEGRITY;
	if (r == GW_PKG_OK && ftruncate(fd, (off_t)h.got) < 0)
		r = GW_PKG_INTEGRITY;
	if (r == GW_PKG_OK)
		pkg_fetch_progress(f, h.got, h.got, 1);
	curl_easy_cleanup(h.curl);
	curl_global_cleanup();
	return r;
}
