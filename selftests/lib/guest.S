/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The test guest, 16-bit real mode, position independent (relative branches
 * only, data at the fixed addresses of guest_layout.h). The VMM copies the
 * bytes between kt_guest_code_start and kt_guest_code_end to KT_CODE_GPA.
 *
 * In:  EAX = seed (0 is replaced, xorshift32 would stay 0).
 * Does: fills the known page, fills the high slot with xorshift32 output,
 *       sets EBX/ESI/EDI/EBP from the final random state, then "out" to
 *       KT_PORT_DONE. Resumed after that, it spins forever incrementing the
 *       counter at KT_COUNTER_GPA and EBP, so a running guest keeps changing
 *       both memory and registers until the VMM kicks it out of KVM_RUN.
 *
 * Two routines the VMM may point RIP at (selftests/vmm.c "guest"), each
 * ending with the "done" out and writing no memory:
 *   kt_guest_doorbell  CX times an OUT of KT_DOORBELL_VALUE to
 *                      KT_PORT_DOORBELL: the guest asks kvmtrustd to
 *                      attest it (Documentation/kvmtrustd.rst, "Triggers")
 *   kt_guest_efer      CX times EFER rewritten with its own value (WRMSR,
 *                      seen on kvm:kvm_msr)
 */
#include "guest_layout.h"

	.section .rodata.kt_guest, "a"
	.globl kt_guest_code_start, kt_guest_code_end
	.code16
kt_guest_code_start:
	cli
	test	%eax, %eax
	jnz	1f
	mov	$KT_ZERO_SEED_FALLBACK, %eax
1:
	mov	$KT_KNOWN_GPA, %di
	mov	$KT_KNOWN_MAGIC, %edx
	mov	$(KT_PAGE_SIZE / 4), %cx
2:
	mov	%edx, (%di)
	add	$4, %di
	inc	%edx
	dec	%cx
	jnz	2b

	mov	$KT_HIGH_SEG, %bx
	mov	%bx, %es
	xor	%di, %di
	mov	$KT_RANDOM_DWORDS, %ecx
3:
	mov	%eax, %edx
	shl	$13, %edx
	xor	%edx, %eax
	mov	%eax, %edx
	shr	$17, %edx
	xor	%edx, %eax
	mov	%eax, %edx
	shl	$5, %edx
	xor	%edx, %eax
	mov	%eax, %es:(%di)
	add	$4, %di
	dec	%ecx
	jnz	3b

	mov	%eax, %ebx
	not	%ebx
	mov	%eax, %esi
	rol	$8, %esi
	mov	%eax, %edi
	ror	$8, %edi
	mov	%eax, %ebp
	xor	$0x5a5a5a5a, %ebp
	mov	%eax, %edx
	mov	$KT_DONE_VALUE, %al
	out	%al, $KT_PORT_DONE
4:
	incl	KT_COUNTER_GPA
	inc	%ebp
	jmp	4b

	.globl kt_guest_doorbell, kt_guest_efer
kt_guest_doorbell:
	mov	$KT_PORT_DOORBELL, %dx
5:
	mov	$KT_DOORBELL_VALUE, %al
	out	%al, (%dx)
	dec	%cx
	jnz	5b
	mov	$KT_DONE_VALUE, %al
	out	%al, $KT_PORT_DONE
	hlt

kt_guest_efer:
	mov	%cx, %si
	mov	$KT_MSR_EFER, %ecx
6:
	rdmsr
	wrmsr
	dec	%si
	jnz	6b
	mov	$KT_DONE_VALUE, %al
	out	%al, $KT_PORT_DONE
	hlt
kt_guest_code_end:
	.code64
	.section .note.GNU-stack, "", @progbits
