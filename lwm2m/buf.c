/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

static int reserve(struct lwm2m_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len)
		return -ENOMEM;
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int lwm2m_buf_append(struct lwm2m_buf *b, const void *p, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	r = reserve(b, n);
	if (r < 0)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int lwm2m_buf_putc(struct lwm2m_buf *b, uint8_t c)
{
	return lwm2m_buf_append(b, &c, 1);
}

int lwm2m_buf_printf(struct lwm2m_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	/* +1 for vsnprintf's NUL, which is not counted in len. */
	r = reserve(b, (size_t)n + 1);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void lwm2m_buf_reset(struct lwm2m_buf *b)
{
	b->len = 0;
}

void lwm2m_buf_free(struct lwm2m_buf *b)
{
	if (!b)
		return;
	free(b->data);
	*b = (struct lwm2m_buf){ 0 };
}
