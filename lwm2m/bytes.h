/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Big-endian integers and CRC-32 (IEEE 802.3) for the files fieldgate
 * keeps: the bootstrap state (bs_state.c) and the store-and-forward queue
 * (client/sfq.c). Pure.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

static inline void lwm2m_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void lwm2m_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void lwm2m_put_be64(uint8_t *p, uint64_t v)
{
	lwm2m_put_be32(p, (uint32_t)(v >> 32));
	lwm2m_put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t lwm2m_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t lwm2m_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t lwm2m_get_be64(const uint8_t *p)
{
	return (uint64_t)lwm2m_get_be32(p) << 32 | lwm2m_get_be32(p + 4);
}

/* CRC-32 of p[0..n) continuing crc (0 to start), as zlib's crc32(). */
uint32_t lwm2m_crc32(uint32_t crc, const uint8_t *p, size_t n);
