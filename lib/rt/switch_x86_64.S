/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Context switch for x86-64 System V.
 *
 * void rt_switch(void **save_sp, void *load_sp);
 *
 * Saves the callee-saved state of the caller on its own stack (rbp, rbx, r12-r15,
 * MXCSR and the x87 control word; the return address is already there), stores the
 * stack pointer in *save_sp, loads load_sp and restores the same layout from it.
 * Caller-saved registers need no saving: the C compiler assumes a call clobbers them.
 *
 * Frame left on a suspended stack (sp points at the lowest word):
 *
 *     sp+56  return address        <- rt_trampoline for a coroutine never run
 *     sp+48  rbp
 *     sp+40  rbx
 *     sp+32  r12                   <- the co_t * for a coroutine never run
 *     sp+24  r13
 *     sp+16  r14
 *     sp+8   r15
 *     sp+0   MXCSR (4 bytes), x87 control word (2 bytes)
 *
 * The CFI below describes that frame, so a debugger stopped anywhere in rt_switch
 * unwinds through it, and rt_trampoline marks the outermost frame of a coroutine so
 * backtraces end cleanly there instead of walking into garbage.
 */
    .text

    .globl  rt_switch
    .hidden rt_switch
    .type   rt_switch, @function
    .p2align 4
rt_switch:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)

    movq    %rsp, (%rdi)            /* suspend the caller */
    movq    %rsi, %rsp              /* resume the target: same frame layout */

    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r15
    popq    %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r14
    popq    %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r13
    popq    %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    ret
    .cfi_endproc
    .size   rt_switch, .-rt_switch

/*
 * First code a coroutine runs: rt_switch "returns" here on a fresh stack with the
 * co_t * in r12 and rsp 16-byte aligned. rt_co_main never returns.
 */
    .globl  rt_trampoline
    .hidden rt_trampoline
    .type   rt_trampoline, @function
    .p2align 4
rt_trampoline:
    .cfi_startproc
    .cfi_undefined %rip             /* outermost frame: unwinders stop here */
    xorl    %ebp, %ebp
    movq    %r12, %rdi
    call    rt_co_main
    ud2
    .cfi_endproc
    .size   rt_trampoline, .-rt_trampoline

    .section .note.GNU-stack, "", @progbits
