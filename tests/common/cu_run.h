/* SPDX-License-Identifier: MIT */
/*
 * The shared main of pinnet's CUnit test programs: registers one suite, runs
 * it in verbose basic mode and turns the result into an exit status meson
 * understands (0 pass, 1 fail, 77 skip).
 */
#ifndef PINNET_TEST_CU_RUN_H
#define PINNET_TEST_CU_RUN_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>

#define PN_TEST_SKIP 77

struct cu_test {
	const char *name; /* shown by the runner */
	CU_TestFunc fn;
};

#define CU_TEST_ENTRY(f) \
	{                \
#f, f    \
	}

/*
 * Register and run one suite. setup/teardown run around every test; a
 * teardown that finds a leak fails through CU_ASSERT like any test.
 */
static inline int cu_run_suite(const char *suite, const struct cu_test *tests,
			       size_t n, CU_InitializeFunc init,
			       CU_CleanupFunc cleanup, CU_SetUpFunc setup,
			       CU_TearDownFunc teardown)
{
	CU_pSuite s;
	unsigned int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite_with_setup_and_teardown(suite, init, cleanup, setup,
						 teardown);
	if (!s)
		goto err;
	for (size_t i = 0; i < n; i++)
		if (!CU_add_test(s, tests[i].name, tests[i].fn))
			goto err;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto err;
	failed = CU_get_number_of_failures() +
		 CU_get_number_of_suites_failed() +
		 CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
err:
	fprintf(stderr, "CUnit error: %s\n", CU_get_error_msg());
	CU_cleanup_registry();
	return 1;
}

#define CU_RUN(suite, tests, init, cleanup, setup, teardown)               \
	cu_run_suite(suite, tests, sizeof(tests) / sizeof(tests[0]), init, \
		     cleanup, setup, teardown)

#endif
