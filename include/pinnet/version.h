/* SPDX-License-Identifier: MIT */
/*
 * pinnet: library version, for programs that link against libpinnet.
 */
#ifndef PINNET_VERSION_H
#define PINNET_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

/* The version this header belongs to. */
#define PN_VERSION_MAJOR 0
#define PN_VERSION_MINOR 1
#define PN_VERSION_PATCH 0

/*
 * pn_version - the version of the libpinnet actually loaded, "MAJOR.MINOR.PATCH".
 * The string is static; the caller does not free it.
 */
const char *pn_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PINNET_VERSION_H */
