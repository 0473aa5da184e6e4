// SPDX-License-Identifier: GPL-2.0
/*
 * Linked into the test binaries of "make user SANITIZE=1" with
 * -Wl,--wrap=_exit. The kselftest harness ends every test's child with
 * _exit(), which skips LeakSanitizer's check at exit; a leak in the library
 * code a test ran would go unreported. Checking here makes it fail the test.
 */
#include <sanitizer/lsan_interface.h>

void __real__exit(int status) __attribute__((noreturn));
void __wrap__exit(int status) __attribute__((noreturn));

void __wrap__exit(int status)
{
	__lsan_do_leak_check();
	__real__exit(status);
}
