/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A chained hash index of nodes by a string key that grows with them: the
 * bridge's devices (by name, by {device} value), its entries (by exact
 * topic) and its subscriptions (by filter). A fixed table made every
 * lookup a walk of count/1024 nodes: 100 at 100,000 devices, for every
 * message.
 *
 * Intrusive: each node carries its own next pointer (at x->link), so an
 * index costs its buckets only. Nodes are appended to their bucket and a
 * rehash keeps the order of nodes of one key: the entries a message feeds
 * are fed in the order they were added.
 */
#include <errno.h>
#include <stdlib.h>

#include "mqtt_internal.h"

#define FIRST_BUCKETS 64u
/* Nodes per bucket before the table doubles: chains of 2-4 nodes cost a
 * lookup little, and a bucket is 8 bytes (a device's points are 4 nodes of
 * the topic index, all of one key). */
#define LOAD 4u

static void **next_of(const struct mqtt_index *x, void *node)
{
	return (void **)((char *)node + x->link);
}

static size_t slot(size_t nbucket, const char *k, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)k[i]) * 16777619u;
	return h & (nbucket - 1);
}

void mqtt_index_init(struct mqtt_index *x, size_t link, mqtt_index_key_fn key)
{
	*x = (struct mqtt_index){ .link = link, .key = key };
}

void mqtt_index_clear(struct mqtt_index *x)
{
	free(x->bucket);
	x->bucket = NULL;
	x->nbucket = x->count = 0;
}

void *mqtt_index_first(const struct mqtt_index *x, const char *k, size_t n)
{
	return x->nbucket ? x->bucket[slot(x->nbucket, k, n)] : NULL;
}

/* Twice the buckets once there are LOAD times more nodes. Best effort:
 * without memory the chains grow longer, nothing is lost. */
static void grow(struct mqtt_index *x)
{
	size_t nb = x->nbucket ? x->nbucket * 2 : FIRST_BUCKETS;
	void **b = calloc(nb, sizeof(*b)), ***tail;

	tail = b ? malloc(nb * sizeof(*tail)) : NULL;
	if (!tail) {
		free(b);
		return;
	}
	for (size_t i = 0; i < nb; i++)
		tail[i] = &b[i];
	for (size_t i = 0; i < x->nbucket; i++)
		for (void *node = x->bucket[i], *next; node; node = next) {
			size_t len;
			const char *k = x->key(node, &len);
			size_t s = slot(nb, k, len);

			next = *next_of(x, node);
			*next_of(x, node) = NULL;
			*tail[s] = node;
			tail[s] = next_of(x, node);
		}
	free(tail);
	free(x->bucket);
	x->bucket = b;
	x->nbucket = nb;
}

int mqtt_index_add(struct mqtt_index *x, void *node)
{
	size_t len;
	const char *k = x->key(node, &len);
	void **q;

	if (x->count >= x->nbucket * LOAD)
		grow(x);
	if (!x->nbucket)
		return -ENOMEM;
	for (q = &x->bucket[slot(x->nbucket, k, len)]; *q; q = next_of(x, *q))
		;
	*next_of(x, node) = NULL;
	*q = node;
	x->count++;
	return 0;
}

void mqtt_index_del(struct mqtt_index *x, void *node)
{
	size_t len;
	const char *k = x->key(node, &len);

	if (!x->nbucket)
		return;
	for (void **q = &x->bucket[slot(x->nbucket, k, len)]; *q; q = next_of(x, *q))
		if (*q == node) {
			*q = *next_of(x, node);
			x->count--;
			return;
		}
}
