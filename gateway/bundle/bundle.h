/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway/bundle/bundle.h — profile and object bundles (Object 9,
 * docs/updates.md): a tar archive (optionally gzip-compressed) holding a
 * manifest, bundle.yaml, and the files it lists:
 *
 *   name: acme-meters        # [a-z0-9][a-z0-9._-]*, at most 64
 *   version: "1.2.0"         # printable, at most 64
 *   profiles: [acme-em24]    # profiles/acme-em24.yaml in the archive
 *   objects: [33000]         # objects/33000.xml in the archive
 *
 * The archive is read with libarchive and written only below the folder
 * given (a staging folder of the caller): regular files and the folders
 * profiles/ and objects/ only; no absolute path, no "..", no link, no
 * device; at most GW_BUNDLE_ENTRIES_MAX entries, each at most
 * GW_BUNDLE_FILE_MAX bytes, GW_BUNDLE_TOTAL_MAX together; every file the
 * manifest lists present, nothing it does not list. Problems are reported
 * through the diag collector (the manifest's as bundle.yaml:line:column,
 * the archive's naming the entry).
 */
#pragma once

#include <stddef.h>

#include "common/diag.h"

#define GW_BUNDLE_MANIFEST    "bundle.yaml"
#define GW_BUNDLE_NAME_MAX    64
#define GW_BUNDLE_ENTRIES_MAX 256
#define GW_BUNDLE_FILE_MAX    (1u << 20)
#define GW_BUNDLE_TOTAL_MAX   (8u << 20)

struct gw_bundle {
	char name[GW_BUNDLE_NAME_MAX + 1];
	char version[GW_BUNDLE_NAME_MAX + 1];
	char **profiles; /* profile names (profiles/NAME.yaml) */
	size_t nprofiles;
	char **objects; /* file names without .xml (objects/NAME.xml) */
	size_t nobjects;
};

/* Parse a manifest (file names it in messages). 0 and *out, -EINVAL
 * (reported), -ENOMEM. */
int gw_bundle_manifest_parse(const char *file, const void *data, size_t len, struct diag *diag,
			     struct gw_bundle **out);
struct gw_bundle *gw_bundle_free(struct gw_bundle *b); /* accepts NULL, returns NULL */

/* Read the archive (a file, or len bytes in memory) and check it as above;
 * its files are written below dir (which must exist and be empty), or
 * only checked when dir is NULL. 0 and *out; -ENOTSUP not a tar archive,
 * -EBADMSG damaged or refused content, -EFBIG over the limits, -ENOMEM,
 * or the errno of writing (all reported). On failure dir may hold part
 * of the files: the caller removes it. */
int gw_bundle_extract_file(const char *archive, const char *dir, struct diag *diag, struct gw_bundle **out);
int gw_bundle_extract_memory(const void *data, size_t len, const char *dir, struct diag *diag,
			     struct gw_bundle **out);

/* The manifest of an extracted bundle (dir/bundle.yaml). */
int gw_bundle_load_dir(const char *dir, struct diag *diag, struct gw_bundle **out);

/* Remove dir and everything below it (files and the two folders a bundle
 * has). 0 or a negative errno; a missing dir is 0. */
int gw_bundle_remove_dir(const char *dir);
