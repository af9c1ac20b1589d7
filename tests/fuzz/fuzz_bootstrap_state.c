/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the parser of the bootstrap result file
 * (lwm2m_bs_state_decode, lwm2m/bs_state.c).
 *
 * First input byte: odd = the rest is a whole file, as found on disk (the
 * endpoint name is taken from the file when it looks like one, so the name
 * check can pass); even = the rest is the SenML CBOR payload, framed here
 * with a correct header and CRC so that mutations reach the payload and
 * account checks instead of dying at the checksum.
 *
 * Invariants: a refusal says why and leaves the output empty; an accepted
 * file re-encodes to a file that decodes to the same records; the file
 * name of any endpoint name stays one short path component.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/client/client_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t crc32_ieee(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1u));
	}
	return ~crc;
}

static uint8_t *frame(const char *name, const uint8_t *payload, size_t pl, size_t *len)
{
	size_t nl = strlen(name);
	uint8_t *b = malloc(16 + nl + pl + 1);
	uint32_t crc;

	if (!b)
		abort();
	memcpy(b, "FGBS\x01\x00", 6);
	b[6] = (uint8_t)(nl >> 8);
	b[7] = (uint8_t)nl;
	b[8] = (uint8_t)(pl >> 24);
	b[9] = (uint8_t)(pl >> 16);
	b[10] = (uint8_t)(pl >> 8);
	b[11] = (uint8_t)pl;
	memcpy(b + 16, name, nl);
	if (pl)
		memcpy(b + 16 + nl, payload, pl);
	crc = crc32_ieee(crc32_ieee(0, b, 12), b + 16, nl + pl);
	b[12] = (uint8_t)(crc >> 24);
	b[13] = (uint8_t)(crc >> 16);
	b[14] = (uint8_t)(crc >> 8);
	b[15] = (uint8_t)crc;
	*len = 16 + nl + pl;
	return b;
}

static bool same_value(const struct lwm2m_value *a, const struct lwm2m_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		return a->bytes.len == b->bytes.len &&
		       (!a->bytes.len || !memcmp(a->bytes.ptr, b->bytes.ptr, a->bytes.len));
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		return a->i == b->i;
	case LWM2M_TYPE_UNSIGNED:
		return a->u == b->u;
	case LWM2M_TYPE_FLOAT:
		return a->f == b->f || (a->f != a->f && b->f != b->f);
	case LWM2M_TYPE_BOOLEAN:
		return a->b == b->b;
	case LWM2M_TYPE_OBJLNK:
		return a->lnk.oid == b->lnk.oid && a->lnk.iid == b->lnk.iid;
	default:
		return true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lwm2m_registry *reg;
	struct lwm2m_records out = { 0 }, again = { 0 };
	struct lwm2m_buf b = { 0 };
	char name[256] = "fuzz", fname[FG_BS_FILE_NAME_MAX];
	const char *why = NULL;
	uint8_t *file = NULL;
	size_t len;
	int r;

	if (!reg)
		reg = lwm2m_registry_new();
	if (!reg || size == 0)
		return 0;
	if (data[0] & 1) {
		const uint8_t *f = data + 1;

		len = size - 1;
		if (len >= 16) {
			size_t nl = (size_t)f[6] << 8 | f[7];

			if (nl && nl < sizeof(name) && 16 + nl <= len && !memchr(f + 16, 0, nl)) {
				memcpy(name, f + 16, nl);
				name[nl] = '\0';
			}
		}
		file = malloc(len ? len : 1);
		if (!file)
			abort();
		if (len)
			memcpy(file, f, len);
	} else {
		file = frame(name, data + 1, size - 1, &len);
	}

	r = lwm2m_bs_state_decode(file, len, name, reg, &out, &why);
	if (r < 0) {
		if (!why || out.n)
			abort();
	} else {
		if (lwm2m_bs_state_encode(name, &out, &b) < 0)
			abort();
		if (lwm2m_bs_state_decode(b.data, b.len, name, reg, &again, &why) < 0 || again.n != out.n)
			abort();
		for (size_t i = 0; i < out.n; i++)
			if (lwm2m_path_cmp(&out.v[i].path, &again.v[i].path) != 0 ||
			    !same_value(&out.v[i].value, &again.v[i].value))
				abort();
	}
	r = fg_bs_state_file_name(name, fname);
	if (r <= 0 || r >= FG_BS_FILE_NAME_MAX || strchr(fname, '/') || fname[0] == '.')
		abort();
	lwm2m_buf_free(&b);
	lwm2m_records_clear(&out);
	lwm2m_records_clear(&again);
	free(file);
	return 0;
}
