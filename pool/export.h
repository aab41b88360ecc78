/* SPDX-License-Identifier: MIT */
/* Private: marks the functions libpinnet exports (see pinnet.map). */
#ifndef PINNET_EXPORT_H
#define PINNET_EXPORT_H

#define PN_EXPORT __attribute__((visibility("default")))

#endif
