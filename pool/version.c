/* SPDX-License-Identifier: MIT */
#include "pinnet/version.h"
#include "export.h"

#define STR2(x) #x
#define STR(x) STR2(x)

PN_EXPORT const char *pn_version(void)
{
	return STR(PN_VERSION_MAJOR) "." STR(PN_VERSION_MINOR) "." STR(
		PN_VERSION_PATCH);
}
