/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Context switch for x86-64 System V.
 *
 * int rt_switch(void **save_sp, void *load_sp, int value);
 *
 * Saves the callee-saved state of the caller on its own stack (rbp, rbx, r12-r15,
 * MXCSR and the x87 control word; the return address is already there), stores the
 * stack pointer in *save_sp, loads load_sp, restores the same layout from it and
 * jumps to the saved return address with @value in %eax: the resumed side's own
 * rt_switch call (or the call it tail-jumped from) returns @value.
 * Caller-saved registers need no saving: the C compiler assumes a call clobbers them.
 * co_yield's fast path (below, outside sanitizer builds) falls into it.
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
/* Sanitizer builds keep sched.c's C co_yield: gcc defines __SANITIZE_*__ here
 * too, clang only answers __has_feature (as in rt_internal.h). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RT_SANITIZED 1
#endif
#endif

    /* with co_yield & co in .text.hot: see sched.c and docs/architecture.md */
    .section .text.hot.rt_switch, "ax", @progbits
    /* 128 less the bytes of co_yield's straight path (below). If it is off, the
     * .p2align before rt_switch still aligns it, but the fall-through then runs
     * padding nops: recount after changing that path (objdump). */
    .set    RT_YIELD_PAD, 128 - 101

#ifndef RT_SANITIZED
/*
 * void co_yield(void) -- its fast path, falling straight into rt_switch.
 *
 * sched.c's C co_yield (used in sanitizer builds, which must be told about every
 * switch) says what this does: with another coroutine ready and budget left, the
 * yielder goes to the tail of the run queue and the head runs. Written here so
 * that no taken jump separates it from rt_switch and no register is shuffled
 * into the argument order of a call: on Zen, where STMXCSR's microcode keeps the
 * rest of a switch waiting to dispatch, every instruction on this path shows
 * (docs/architecture.md). Offsets are checked in rt_internal.h. Everything
 * uncommon goes to C: rt_yield_slow (nobody else ready, or a pass due) and
 * rt_canary_broken.
 */
    .globl  co_yield
    .type   co_yield, @function
    /* placed so that it ends, and rt_switch starts, on a 64-byte boundary (the
     * .p2align before rt_switch adds nothing then): the same instructions
     * measured 5.73 ns so and 6.7-9.9 with co_yield aligned instead
     * (docs/architecture.md) */
    .p2align 6
    .skip   RT_YIELD_PAD, 0xcc
co_yield:
    .cfi_startproc
    movq    rt_tls_sched@gottpoff(%rip), %rax
    movq    %fs:(%rax), %rcx        /* s */
    testq   %rcx, %rcx
    je      .Lyield_ret
    movq    (%rcx), %rdi            /* self = s->cur; &self->cx.sp is self */
    testq   %rdi, %rdi
    je      .Lyield_ret
    movq    0x20(%rcx), %rax        /* next = s->rq_head */
    testq   %rax, %rax
    je      .Lyield_slow
    movl    0x30(%rcx), %r8d        /* s->budget - 1: borrows when it was 0 */
    subl    $1, %r8d
    jb      .Lyield_slow
    cmpb    $1, 0x21(%rdi)          /* CO_STK_SMALL: check its canary */
    je      .Lyield_canary
.Lyield_checked:
    cmpq    %rax, 0x28(%rcx)        /* next == s->rq_tail: the queue becomes [self] */
    jne     .Lyield_many
    movq    %rdi, 0x20(%rcx)        /* s->rq_head = self */
.Lyield_queued:
    movq    (%rax), %rsi            /* load_sp = next->cx.sp */
    movswl  0x24(%rax), %edx        /* value = next->wake */
    movq    %rdi, 0x28(%rcx)        /* s->rq_tail = self */
    movl    %r8d, 0x30(%rcx)        /* s->budget-- */
    movq    %rax, (%rcx)            /* s->cur = next */
    /* falls into rt_switch(&self->cx.sp, next->cx.sp, next->wake) */
    .cfi_endproc
    .size   co_yield, .-co_yield
#endif

    .globl  rt_switch
    .hidden rt_switch
    .type   rt_switch, @function
    .p2align 6
rt_switch:
    .cfi_startproc
    leaq    -0x38(%rsp), %rsp       /* the return address stays at 0x38(%rsp) */
    .cfi_adjust_cfa_offset 0x38
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %r15, 0x08(%rsp)
    .cfi_rel_offset %r15, 0x08
    movq    %r14, 0x10(%rsp)
    .cfi_rel_offset %r14, 0x10
    movq    %r13, 0x18(%rsp)
    .cfi_rel_offset %r13, 0x18
    movq    %r12, 0x20(%rsp)
    .cfi_rel_offset %r12, 0x20
    movq    %rbx, 0x28(%rsp)
    .cfi_rel_offset %rbx, 0x28
    movq    %rbp, 0x30(%rsp)
    .cfi_rel_offset %rbp, 0x30

    movq    %rsp, %r9
    movq    %rsp, (%rdi)            /* suspend the caller */
    movq    %rsi, %rsp              /* resume the target: same frame layout */
.Lrt_load:                          /* rt_resume joins here: r9 = FP control words */
    movq    0x38(%rsp), %r8         /* where the target resumes */
    .cfi_remember_state
    /*
     * MXCSR. On Intel, LDMXCSR costs more than comparing first, and almost every
     * switch finds the words equal. On AMD Zen the compare is the expensive part:
     * its load forwards from the STMXCSR store just above (a slow, microcoded
     * store there), and reloading unconditionally, as Boost.Context does, is
     * cheaper. rt_fp_eager picks (set once from CPUID, see sched.c). The AMD
     * path is the fall-through; the Intel one runs the same compares as before,
     * out of line, taking two branches as it used to (je 1f, je 2f) plus one
     * fused compare-and-branch on a byte that never changes.
     */
    cmpb    $0, rt_fp_eager(%rip)
    je      .Lrt_lazy
    ldmxcsr (%rsp)
.Lrt_cw:                            /* FNSTCW forwards cheaply everywhere: compare */
    movzwl  4(%rsp), %eax
    cmpw    4(%r9), %ax
    jne     .Lrt_fldcw
.Lrt_regs:
    movq    0x08(%rsp), %r15
    movq    0x10(%rsp), %r14
    movq    0x18(%rsp), %r13
    movq    0x20(%rsp), %r12
    movq    0x28(%rsp), %rbx
    movq    0x30(%rsp), %rbp
    leaq    0x40(%rsp), %rsp
    .cfi_adjust_cfa_offset -0x40
    movl    %edx, %eax
    .cfi_register %rip, %r8
    /*
     * An indirect jump, not ret: the return-stack predictor would expect the
     * caller's own call site and mispredict on every switch; the branch-target
     * predictor learns the alternation (Boost.Context does the same).
     */
    jmp     *%r8
    /* out of line, so the common path is straight: same frame as at .Lrt_load */
.Lrt_lazy:
    .cfi_restore_state
    .cfi_remember_state
    movl    (%rsp), %eax
    cmpl    (%r9), %eax
    je      .Lrt_cw
.Lrt_ldmxcsr:
    .cfi_restore_state
    .cfi_remember_state
    ldmxcsr (%rsp)
    jmp     .Lrt_cw
.Lrt_fldcw:
    .cfi_restore_state
    fldcw   4(%rsp)
    jmp     .Lrt_regs
    .cfi_endproc
    .size   rt_switch, .-rt_switch

#ifndef RT_SANITIZED
/* co_yield's uncommon paths, out of the way of the straight one; nothing is on
 * the stack yet, so the frame is the caller's return address alone */
    .type   rt_yield_cold, @function
rt_yield_cold:
    .cfi_startproc
.Lyield_ret:
    ret
.Lyield_many:                       /* two or more ready: link self after the tail */
    movq    0x28(%rcx), %rdx
    movq    %rdi, 0x18(%rdx)        /* s->rq_tail->next = self */
    movq    0x18(%rax), %rdx        /* after = next->next: not self */
    movq    %rdx, 0x20(%rcx)        /* s->rq_head = after */
    prefetcht0 -0x40(%rdx)          /* warm it while next runs: see next_cx() */
    prefetcht0 (%rdx)
    prefetcht0 0x80(%rdx)
    jmp     .Lyield_queued
.Lyield_canary:
    movq    0x08(%rdi), %rdx        /* the canary slot: self->cx.stack_lo */
    movq    rt_canary_seed@GOTPCREL(%rip), %rsi
    movq    (%rsi), %rsi
    xorq    %rdi, %rsi              /* rt_canary_value(self) */
    cmpq    %rsi, (%rdx)
    je      .Lyield_checked
    jmp     rt_canary_broken        /* (self): never returns */
.Lyield_slow:
    movq    %rdi, %rsi
    movq    %rcx, %rdi
    jmp     rt_yield_slow           /* (s, self) */
    .cfi_endproc
    .size   rt_yield_cold, .-rt_yield_cold
#endif

/*
 * void rt_resume(void *load_sp, int value)  -- never returns
 *
 * rt_switch for a caller whose stack is dead (a finished coroutine): nothing is
 * saved, only the caller's FP control words are stored (in its red zone) for the
 * comparisons that decide whether the target's must be reloaded. Where MXCSR is
 * reloaded unconditionally (rt_fp_eager), its word is never compared, so it is not
 * stored: STMXCSR is the dearest instruction of a switch on Zen (one per ~11 TSC
 * ticks at best, measured), and a finish needs none (docs/architecture.md).
 */
    .globl  rt_resume
    .hidden rt_resume
    .type   rt_resume, @function
    .p2align 4
rt_resume:
    .cfi_startproc
    cmpb    $0, rt_fp_eager(%rip)
    jne     1f
    stmxcsr -8(%rsp)
1:  fnstcw  -4(%rsp)
    leaq    -8(%rsp), %r9
    movl    %esi, %edx
    movq    %rdi, %rsp
    jmp     .Lrt_load
    .cfi_endproc
    .size   rt_resume, .-rt_resume

/*
 * First code a coroutine runs: rt_switch "returns" here on a fresh stack with the
 * co_t * in r12, its entry in r13, the entry's argument in r14 (all callee-saved,
 * so they survive the entry) and rsp 16-byte aligned. rt_finish never returns.
 */
    .globl  rt_trampoline
    .hidden rt_trampoline
    .type   rt_trampoline, @function
    .p2align 4
rt_trampoline:
    .cfi_startproc
    .cfi_undefined %rip             /* outermost frame: unwinders stop here */
    xorl    %ebp, %ebp
    movq    %r14, %rdi
    call    *%r13
    movq    %r12, %rdi
    call    rt_finish
    ud2
    .cfi_endproc
    .size   rt_trampoline, .-rt_trampoline

    .section .note.GNU-stack, "", @progbits
