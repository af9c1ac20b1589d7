/* SPDX-License-Identifier: Apache-2.0 */
#include "bridges/ble/adv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

bool ble_adv_prefix_ok(const struct ble_adv_match *m, const uint8_t *data, size_t len)
{
	return len >= m->prefix_len && (m->prefix_len == 0 || memcmp(data, m->prefix, m->prefix_len) == 0);
}

int ble_adv_field(const struct ble_adv_match *m, const uint8_t *data, size_t len, uint32_t offset,
		  uint32_t length, struct mapping_sample *out)
{
	if (!ble_adv_prefix_ok(m, data, len))
		return -ENOMSG;
	if (offset > len || (length && length > len - offset))
		return -EBADMSG;
	*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_BYTES,
					.bytes = data + offset,
					.len = length ? length : len - offset };
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int ble_uuid_normalize(const char *in, char out[BLE_UUID_LEN + 1])
{
	size_t n = strlen(in);

	if (n > 2 && in[0] == '0' && (in[1] == 'x' || in[1] == 'X')) {
		in += 2;
		n -= 2;
	}
	if (n == 4 || n == 8) {
		for (size_t i = 0; i < n; i++)
			if (hexval((unsigned char)in[i]) < 0)
				return -EINVAL;
		snprintf(out, BLE_UUID_LEN + 1, "%s%.*s-0000-1000-8000-00805f9b34fb", n == 4 ? "0000" : "",
			 (int)n, in);
	} else if (n == BLE_UUID_LEN) {
		for (size_t i = 0; i < n; i++) {
			bool dash = i == 8 || i == 13 || i == 18 || i == 23;
			if (dash ? in[i] != '-' : hexval((unsigned char)in[i]) < 0)
				return -EINVAL;
		}
		memcpy(out, in, n + 1);
	} else
		return -EINVAL;
	for (size_t i = 0; i < BLE_UUID_LEN; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return 0;
}

int ble_hex_parse(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	while (*s) {
		int hi, lo;
		if (*s == ' ' || *s == ':') {
			s++;
			continue;
		}
		hi = hexval((unsigned char)s[0]);
		lo = hi >= 0 && s[1] ? hexval((unsigned char)s[1]) : -1;
		if (hi < 0 || lo < 0)
			return -EINVAL;
		if (n >= cap)
			return -E2BIG;
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return (int)n;
}

static int mac_parse_sep(const char *s, char sep, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int hi = hexval((unsigned char)s[3 * i]),
		    lo = hi >= 0 ? hexval((unsigned char)s[3 * i + 1]) : -1;
		if (hi < 0 || lo < 0)
			return -EINVAL;
		if (s[3 * i + 2] != (i == 5 ? '\0' : sep))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int ble_mac_parse(const char *s, uint8_t mac[6])
{
	if (strlen(s) != 17)
		return -EINVAL;
	return mac_parse_sep(s, ':', mac);
}

int ble_mac_from_path(const char *path, uint8_t mac[6])
{
	const char *p = strrchr(path, '/');

	if (!p || strncmp(p + 1, "dev_", 4) != 0 || strlen(p + 5) != 17)
		return -EINVAL;
	return mac_parse_sep(p + 5, '_', mac);
}

void ble_mac_format(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02X:%02X:%02X:%02X:%02X:%02X", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}
