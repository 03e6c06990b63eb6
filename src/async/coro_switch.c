/* coro_switch.c: context switches and fibers under weft's coroutines (greenlet's switch, which
 * Twisted's inlineCallbacks does without because Python generators keep frames on the heap).
 *
 * The switch follows the C calling convention: it is an ordinary call, so the compiler has
 * already saved every caller-saved register; only the callee-saved ones, the floating-point
 * control state the ABI says survives a call, and the stack pointer need to move.
 * x86-64 SysV: rbx, rbp, r12-r15, MXCSR, x87 control word, rsp.
 * AArch64 (AAPCS64): x19-x28, x29 (frame), x30 (return address), d8-d15, sp. */
#include "async/coro_switch.h"

#include <stdint.h>
#include <stdlib.h>

#ifdef WEFT__ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#ifndef WEFT_CORO_UCONTEXT

#if defined(__APPLE__)
#define SYM(name) "_" #name
#define FN_BEGIN(name) ".text\n.p2align 4\n.private_extern " SYM(name) "\n" SYM(name) ":\n"
#define FN_END(name) ""
#else
#define SYM(name) #name
#define FN_BEGIN(name) ".text\n.p2align 4\n.globl " #name "\n.hidden " #name "\n.type " #name ", @function\n" #name ":\n"
#define FN_END(name) ".size " #name ", .-" #name "\n"
#endif

/* Where a new context starts: the first switch "returns" here with the entry function and its
 * argument in callee-saved registers. The unwind info marks the return address undefined so
 * debuggers end a fiber's backtrace here. */
void weft__coro_trampoline(void);

#if defined(__x86_64__)

__asm__(FN_BEGIN(weft__coro_ctx_switch)
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  subq $8, %rsp\n"
        "  stmxcsr (%rsp)\n"
        "  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq (%rsi), %rsp\n"
        "  ldmxcsr (%rsp)\n"
        "  fldcw 4(%rsp)\n"
        "  addq $8, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n" FN_END(weft__coro_ctx_switch));

__asm__(FN_BEGIN(weft__coro_trampoline)
        "  .cfi_startproc\n"
        "  .cfi_undefined rip\n"
        "  movq %r13, %rdi\n"
        "  callq *%r12\n"
        "  ud2\n"
        "  .cfi_endproc\n" FN_END(weft__coro_trampoline));

void weft__coro_ctx_make(weft__coro_ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg) {
  uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
  /* After the switch pops the frame below and returns, rsp is top - 16: 16-byte aligned before
   * the trampoline's call, as the ABI wants. */
  uint64_t *sp = (uint64_t *)(top - 16);
  sp[0] = sp[1] = 0;
  *--sp = (uint64_t)(uintptr_t)weft__coro_trampoline; /* return address */
  *--sp = 0;                                          /* rbp */
  *--sp = 0;                                          /* rbx */
  *--sp = (uint64_t)(uintptr_t)entry;                 /* r12 */
  *--sp = (uint64_t)(uintptr_t)arg;                   /* r13 */
  *--sp = 0;                                          /* r14 */
  *--sp = 0;                                          /* r15 */
  *--sp = (uint64_t)0x037F << 32 | 0x1F80;            /* x87 control word, MXCSR: the defaults */
  c->sp = sp;
}

#elif defined(__aarch64__)

__asm__(FN_BEGIN(weft__coro_ctx_switch)
        "  sub sp, sp, #160\n"
        "  stp x19, x20, [sp, #0]\n"
        "  stp x21, x22, [sp, #16]\n"
        "  stp x23, x24, [sp, #32]\n"
        "  stp x25, x26, [sp, #48]\n"
        "  stp x27, x28, [sp, #64]\n"
        "  stp x29, x30, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n"
        "  stp d10, d11, [sp, #112]\n"
        "  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n"
        "  mov x9, sp\n"
        "  str x9, [x0]\n"
        "  ldr x9, [x1]\n"
        "  mov sp, x9\n"
        "  ldp x19, x20, [sp, #0]\n"
        "  ldp x21, x22, [sp, #16]\n"
        "  ldp x23, x24, [sp, #32]\n"
        "  ldp x25, x26, [sp, #48]\n"
        "  ldp x27, x28, [sp, #64]\n"
        "  ldp x29, x30, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n"
        "  ldp d10, d11, [sp, #112]\n"
        "  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  add sp, sp, #160\n"
        "  ret\n" FN_END(weft__coro_ctx_switch));

__asm__(FN_BEGIN(weft__coro_trampoline)
        "  .cfi_startproc\n"
        "  .cfi_undefined x30\n"
        "  mov x0, x20\n"
        "  blr x19\n"
        "  brk #0\n"
        "  .cfi_endproc\n" FN_END(weft__coro_trampoline));

void weft__coro_ctx_make(weft__coro_ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg) {
  uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
  uint64_t *sp = (uint64_t *)(top - 160);
  for (int i = 0; i < 20; i++) sp[i] = 0;
  sp[0] = (uint64_t)(uintptr_t)entry;                 /* x19 */
  sp[1] = (uint64_t)(uintptr_t)arg;                   /* x20 */
  sp[11] = (uint64_t)(uintptr_t)weft__coro_trampoline; /* x30: where the switch returns */
  c->sp = sp;
}

#endif

#else /* WEFT_CORO_UCONTEXT */

/* makecontext passes int arguments only: the pointers travel in two halves. */
static void ucontext_entry(unsigned fn_hi, unsigned fn_lo, unsigned arg_hi, unsigned arg_lo) {
  uintptr_t fn = (uintptr_t)(((uint64_t)fn_hi << 32) | fn_lo);
  uintptr_t arg = (uintptr_t)(((uint64_t)arg_hi << 32) | arg_lo);
  ((void (*)(void *))fn)((void *)arg);
  abort(); /* entry must switch away for good, never return */
}

void weft__coro_ctx_make(weft__coro_ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg) {
  uint64_t fn = (uint64_t)(uintptr_t)entry, a = (uint64_t)(uintptr_t)arg;
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = lo;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = NULL;
  makecontext(&c->uc, (void (*)(void))ucontext_entry, 4, (unsigned)(fn >> 32), (unsigned)fn,
              (unsigned)(a >> 32), (unsigned)a);
}

void weft__coro_ctx_switch(weft__coro_ctx *from, weft__coro_ctx *to) { swapcontext(&from->uc, &to->uc); }

#endif

/* ---- fibers: the switch plus ASan's view of which stack is live ---- */

static void fiber_entry(void *arg) {
  weft__fiber *f = arg;
#ifdef WEFT__ASAN
  __sanitizer_finish_switch_fiber(NULL, &f->caller_bottom, &f->caller_size);
#endif
  f->fn(f, f->arg);
  f->finished = true;
  f->running = false;
#ifdef WEFT__ASAN
  /* NULL: this stack's frames are gone for good, ASan may drop its fake frames. */
  __sanitizer_start_switch_fiber(NULL, f->caller_bottom, f->caller_size);
#endif
  weft__coro_ctx_switch(&f->ctx, &f->caller);
  abort(); /* a finished fiber is never resumed */
}

int weft__fiber_init(weft__fiber *f, size_t stack_size, void (*fn)(weft__fiber *f, void *arg), void *arg) {
  *f = (weft__fiber){.fn = fn, .arg = arg};
  int rc = weft__coro_stack_get(&f->stack, stack_size);
  if (rc != 0) return rc;
  weft__coro_ctx_make(&f->ctx, f->stack.lo, f->stack.size, fiber_entry, f);
  return 0;
}

bool weft__fiber_resume(weft__fiber *f) {
  if (f->finished || f->running) return f->finished;
  f->started = true;
  f->running = true;
#ifdef WEFT__ASAN
  void *fake = NULL;
  __sanitizer_start_switch_fiber(&fake, f->stack.lo, f->stack.size);
#endif
  weft__coro_ctx_switch(&f->caller, &f->ctx);
#ifdef WEFT__ASAN
  __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
  return f->finished;
}

void weft__fiber_yield(weft__fiber *f) {
  f->running = false;
#ifdef WEFT__ASAN
  __sanitizer_start_switch_fiber(&f->asan_fake, f->caller_bottom, f->caller_size);
#endif
  weft__coro_ctx_switch(&f->ctx, &f->caller);
#ifdef WEFT__ASAN
  __sanitizer_finish_switch_fiber(f->asan_fake, &f->caller_bottom, &f->caller_size);
#endif
}

void weft__fiber_release(weft__fiber *f) { weft__coro_stack_put(&f->stack); }
