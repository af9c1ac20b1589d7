/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the server name check of certificate mode
 * (lwm2m/client/certname.c): the expected host's parser, the name matcher
 * and the certificate reader (mbedTLS) with the subjectAltName walk.
 *
 * Input: the expected host, a '\n', then a DER certificate (the seeds are
 * real ones, tests/data/certname/). Without a '\n' the whole input is the
 * host. The bytes after the '\n' are also offered to the matcher as one
 * presented name.
 *
 * Invariants: a host the parser takes is normalized (no upper case, no
 * final dot, an address of 4 or 16 bytes); the description of what a
 * certificate names is always a printable, NUL-terminated string within
 * its buffer; the only answers are 0, -EPERM and -EBADMSG.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/client/certname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen = nl ? (size_t)(nl - data) : size;
	const uint8_t *der = nl ? nl + 1 : data + size;
	size_t dlen = size - (size_t)(der - data);
	struct fg_certname_ref ref;
	char host[300], held[96];
	int r;

	if (hlen >= sizeof(host))
		return 0;
	memcpy(host, data, hlen);
	host[hlen] = '\0';
	if (fg_certname_ref_parse(host, &ref) < 0)
		return 0;
	if (ref.ip ? ref.addr_len != 4 && ref.addr_len != 16
		   : ref.name_len == 0 || ref.name_len > FG_CERTNAME_MAX ||
			     ref.name[ref.name_len - 1] == '.' || strlen(ref.name) != ref.name_len)
		abort();
	for (size_t i = 0; !ref.ip && i < ref.name_len; i++)
		if (ref.name[i] >= 'A' && ref.name[i] <= 'Z')
			abort();

	(void)fg_certname_dns_match(der, dlen, &ref);

	memset(held, 'X', sizeof(held));
	r = fg_certname_check(der, dlen, &ref, held, sizeof(held));
	if (r != 0 && r != -EPERM && r != -EBADMSG)
		abort();
	if (!memchr(held, '\0', sizeof(held)))
		abort();
	for (const char *p = held; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			abort();
	return 0;
}
