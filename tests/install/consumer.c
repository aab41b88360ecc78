/* SPDX-License-Identifier: MIT */
/* A program built outside the tree against the installed pinnet.pc. */
#include <pinnet/version.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	char want[32];

	snprintf(want, sizeof(want), "%d.%d.%d", PN_VERSION_MAJOR,
		 PN_VERSION_MINOR, PN_VERSION_PATCH);
	if (strcmp(pn_version(), want) != 0) {
		fprintf(stderr, "header says %s, library says %s\n", want,
			pn_version());
		return 1;
	}
	printf("linked against libpinnet %s\n", pn_version());
	return 0;
}
