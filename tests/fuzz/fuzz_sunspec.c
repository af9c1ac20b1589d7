/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SunSpec walker and the profile generator (bridges/modbus/sunspec.h)
 * on arbitrary register images: byte 0 picks where the image sits (40000,
 * 0 or 50000), byte 1 the registers per read, the rest are the registers
 * (big endian). Whatever the device says, a walk ends; a profile made of
 * it must load with the Modbus source parser without a single error (the
 * device's strings cannot break the YAML, no scale factor an invalid
 * number): anything else aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/modbus/mb_source.h"
#include "bridges/modbus/sunspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct image {
	uint32_t base;
	const uint8_t *regs;
	size_t n;
};

static int image_read(void *ud, uint32_t addr)
{
	const struct image *im = ud;

	if (addr < im->base || addr - im->base >= im->n)
		return -1;
	return im->regs[2 * (addr - im->base)] << 8 | im->regs[2 * (addr - im->base) + 1];
}

static void nodiag(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		   const char *msg)
{
	(void)ctx;
	(void)sev;
	(void)file;
	(void)line;
	(void)col;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t bases[] = { 40000, 0, 50000 };
	static const struct mapping_source_ops *const kinds[] = { &mb_source_ops, NULL };
	static struct lwm2m_registry *reg;
	struct sunspec_walk *w;
	struct image im;
	char *text = NULL, *name = NULL, *unknown = NULL;
	size_t len;

	if (size < 2)
		return 0;
	if (!reg)
		reg = lwm2m_registry_new();
	im = (struct image){ .base = bases[data[0] % 3], .regs = data + 2, .n = (size - 2) / 2 };
	w = malloc(sizeof(*w));
	if (!w)
		return 0;
	sunspec_walk_init(w, data[1]);
	(void)sunspec_walk_image(w, image_read, &im);
	if (w->state != SUNSPEC_DONE && w->state != SUNSPEC_FAILED)
		abort(); /* a walk over an image always ends */
	if (sunspec_profile(w, &text, &len, &name, &unknown) == 0) {
		struct mapping_set *set = mapping_set_new(reg, kinds, "");
		struct diag diag = { .fn = nodiag };
		const struct mapping_profile *p;
		if (strlen(text) != len ||
		    mapping_set_load_buffer(set, name, "(sunspec)", text, len, &diag, &p) != 0 || diag.errors)
			abort();
		mapping_set_free(set);
	}
	free(text);
	free(name);
	free(unknown);
	free(w);
	return 0;
}
