/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Topic templates with captures, MQTT filters, and the bindings between
 * them (see mqtt_internal.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/mqtt_internal.h"

static bool is_name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

void mqtt_template_clear(struct mqtt_template *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nlv; i++)
		free(t->lv[i].text);
	free(t->lv);
	free(t->src);
	*t = (struct mqtt_template){ 0 };
}

int mqtt_template_parse(const char *s, struct mqtt_template *t, char *why, size_t why_size)
{
	size_t len = strlen(s), ncap = 0;
	const char *p = s;

	*t = (struct mqtt_template){ 0 };
	if (len == 0 || len > 1024) {
		snprintf(why, why_size, "a topic of 1 to 1024 characters is needed");
		return -EINVAL;
	}
	t->src = strdup(s);
	t->lv = calloc(MQTT_TEMPLATE_MAX_LEVELS, sizeof(*t->lv));
	if (!t->src || !t->lv)
		goto nomem;
	for (;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		struct mqtt_level *lv;

		if (t->nlv == MQTT_TEMPLATE_MAX_LEVELS) {
			snprintf(why, why_size, "more than %d topic levels", MQTT_TEMPLATE_MAX_LEVELS);
			goto inval;
		}
		lv = &t->lv[t->nlv];
		if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
			if (n - 2 > MQTT_NAME_MAX || n == 2 || !is_name_char(p[1], true)) {
				snprintf(why, why_size,
					 "'%.*s' is not a capture: use {name} with a letter or '_' first",
					 (int)n, p);
				goto inval;
			}
			for (size_t i = 2; i + 1 < n; i++)
				if (!is_name_char(p[i], false)) {
					snprintf(
						why, why_size,
						"'%.*s' is not a capture: names take letters, digits and '_'",
						(int)n, p);
					goto inval;
				}
			for (size_t i = 0; i < t->nlv; i++)
				if (t->lv[i].capture && strlen(t->lv[i].text) == n - 2 &&
				    memcmp(t->lv[i].text, p + 1, n - 2) == 0) {
					snprintf(why, why_size, "capture '%.*s' appears twice", (int)n, p);
					goto inval;
				}
			if (++ncap > MQTT_TEMPLATE_MAX_CAPTURES) {
				snprintf(why, why_size, "more than %d captures", MQTT_TEMPLATE_MAX_CAPTURES);
				goto inval;
			}
			lv->capture = true;
			lv->text = strndup(p + 1, n - 2);
		} else {
			for (size_t i = 0; i < n; i++)
				if (p[i] == '+' || p[i] == '#' || p[i] == '{' || p[i] == '}') {
					snprintf(why, why_size,
						 "'%c' in level '%.*s': a level is literal text or one whole "
						 "{capture} (no MQTT wildcards)",
						 p[i], (int)n, p);
					goto inval;
				}
			lv->text = strndup(p, n);
		}
		if (!lv->text)
			goto nomem;
		t->nlv++;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
inval:
	mqtt_template_clear(t);
	return -EINVAL;
nomem:
	mqtt_template_clear(t);
	return -ENOMEM;
}

bool mqtt_template_has(const struct mqtt_template *t, const char *name)
{
	for (size_t i = 0; i < t->nlv; i++)
		if (t->lv[i].capture && strcmp(t->lv[i].text, name) == 0)
			return true;
	return false;
}

const char *mqtt_binding_get(const struct mqtt_binding *b, const char *name, size_t *len)
{
	for (size_t i = 0; b && i < b->n; i++)
		if (strcmp(b->v[i].name, name) == 0) {
			*len = b->v[i].len;
			return b->v[i].value;
		}
	return NULL;
}

bool mqtt_template_match(const struct mqtt_template *t, const char *topic, size_t topic_len,
			 const struct mqtt_binding *bound, struct mqtt_binding *out)
{
	const char *p = topic, *end = topic + topic_len;

	if (out)
		out->n = 0;
	for (size_t i = 0; i < t->nlv; i++) {
		const char *e = memchr(p, '/', (size_t)(end - p));
		size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
		const struct mqtt_level *lv = &t->lv[i];

		if (i + 1 < t->nlv && !e)
			return false; /* topic too short */
		if (i + 1 == t->nlv && e)
			return false; /* topic too long */
		if (lv->capture) {
			size_t blen;
			const char *bv = mqtt_binding_get(bound, lv->text, &blen);
			if (bv && (blen != n || memcmp(bv, p, n) != 0))
				return false;
			if (out && out->n < MQTT_TEMPLATE_MAX_CAPTURES) {
				out->v[out->n].name = lv->text;
				out->v[out->n].value = p;
				out->v[out->n].len = n;
				out->n++;
			}
		} else if (strlen(lv->text) != n || memcmp(lv->text, p, n) != 0)
			return false;
		p = e ? e + 1 : end;
	}
	return true;
}

static bool level_ok(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == '/' || v[i] == '+' || v[i] == '#' || v[i] == '\0')
			return false;
	return true;
}

static int build(const struct mqtt_template *t, const struct mqtt_binding *bound, char *buf, size_t size,
		 bool need_all, const char **missing)
{
	size_t o = 0;

	for (size_t i = 0; i < t->nlv; i++) {
		const struct mqtt_level *lv = &t->lv[i];
		const char *v = lv->text;
		size_t n = strlen(v);

		if (lv->capture) {
			v = mqtt_binding_get(bound, lv->text, &n);
			if (!v) {
				if (need_all) {
					if (missing)
						*missing = lv->text;
					return -ENOENT;
				}
				v = "+";
				n = 1;
			} else if (!level_ok(v, n))
				return -EINVAL;
		}
		if (o + n + 2 > size)
			return -ENOBUFS;
		if (i > 0)
			buf[o++] = '/';
		memcpy(buf + o, v, n);
		o += n;
	}
	if (o >= size)
		return -ENOBUFS;
	buf[o] = '\0';
	return (int)o;
}

int mqtt_template_filter(const struct mqtt_template *t, const struct mqtt_binding *bound, char *buf,
			 size_t size)
{
	return build(t, bound, buf, size, false, NULL);
}

int mqtt_template_expand(const struct mqtt_template *t, const struct mqtt_binding *bound, char *buf,
			 size_t size, const char **missing)
{
	return build(t, bound, buf, size, true, missing);
}

/* Next level of a filter or topic: [*p, returned end). */
static const char *level_end(const char *p, const char *end)
{
	const char *e = memchr(p, '/', (size_t)(end - p));
	return e ? e : end;
}

bool mqtt_filter_match(const char *filter, const char *topic, size_t topic_len)
{
	const char *f = filter, *fend = filter + strlen(filter);
	const char *t = topic, *tend = topic + topic_len;

	/* Topics starting with '$' are not matched by leading wildcards (MQTT 4.7.2). */
	if (topic_len > 0 && topic[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return false;
	for (;;) {
		const char *fe = level_end(f, fend), *te = level_end(t, tend);
		size_t fn = (size_t)(fe - f);

		if (fn == 1 && f[0] == '#')
			return true;
		if (!(fn == 1 && f[0] == '+') && (fn != (size_t)(te - t) || memcmp(f, t, fn) != 0))
			return false;
		if (fe == fend || te == tend) {
			/* "a/#" also matches "a" */
			if (fe != fend && te == tend && fend - fe == 2 && fe[1] == '#')
				return true;
			return fe == fend && te == tend;
		}
		f = fe + 1;
		t = te + 1;
	}
}

bool mqtt_filter_covers(const char *a, const char *b)
{
	const char *f = a, *fend = a + strlen(a);
	const char *t = b, *tend = b + strlen(b);

	for (;;) {
		const char *fe = level_end(f, fend), *te = level_end(t, tend);
		size_t fn = (size_t)(fe - f), tn = (size_t)(te - t);

		if (fn == 1 && f[0] == '#')
			return true;
		if (tn == 1 && t[0] == '#')
			return false;
		if (!(fn == 1 && f[0] == '+')) {
			if (tn == 1 && t[0] == '+')
				return false;
			if (fn != tn || memcmp(f, t, fn) != 0)
				return false;
		}
		if (fe == fend || te == tend)
			return fe == fend && te == tend;
		f = fe + 1;
		t = te + 1;
	}
}

size_t mqtt_sanitize_name(const char *prefix, const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0, useful = 0;

	if (size == 0)
		return 0;
	for (const char *p = prefix; p && *p && o + 1 < size && o < 64; p++)
		out[o++] = *p;
	for (size_t i = 0; i < len && o + 1 < size && o < 64; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '-';
		out[o++] = ok ? c : '_';
		useful += ok;
	}
	out[o] = '\0';
	/* A name must start with a letter or digit (gw_name_is_valid). */
	if (useful == 0 || !((out[0] >= 'a' && out[0] <= 'z') || (out[0] >= 'A' && out[0] <= 'Z') ||
			     (out[0] >= '0' && out[0] <= '9')))
		return 0;
	return o;
}
