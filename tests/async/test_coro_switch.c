/* test_coro_switch.c: context switches, fibers and guarded stacks under weft's coroutines
 * (src/async/coro_switch.c, coro_stack.c). */
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "async/coro_switch.h"
#include "check.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

/* ---- ping-pong: values cross the switch in both directions, in order ---- */

typedef struct pingpong {
  int in, out;
  int steps;
} pingpong;

static void pingpong_fn(weft__fiber *f, void *arg) {
  pingpong *p = arg;
  for (int i = 0; i < p->steps; i++) {
    p->out = p->in * 2 + i;
    weft__fiber_yield(f);
  }
  p->out = -1;
}

static void test_pingpong(void) {
  pingpong p = {.steps = 1000};
  weft__fiber f;
  REQUIRE(weft__fiber_init(&f, 0, pingpong_fn, &p) == 0);
  CHECK(!f.started);
  for (int i = 0; i < 1000; i++) {
    p.in = i;
    CHECK(!weft__fiber_resume(&f));
    CHECK_INT(p.out, i * 3);
  }
  CHECK(weft__fiber_resume(&f));
  CHECK_INT(p.out, -1);
  CHECK(f.finished);
  CHECK(weft__fiber_resume(&f)); /* finished: nothing runs again */
  weft__fiber_release(&f);
}

/* ---- many fibers interleaved, each keeping integer and floating-point state in locals ---- */

enum { NFIB = 64, NSTEP = 200 };

typedef struct worker {
  int id;
  uint64_t ires;
  double dres;
} worker;

/* The same computation, with or without a switch in each step: state lives in locals the
 * compiler keeps in callee-saved registers across the call. */
static void compute(weft__fiber *f, worker *w) {
  uint64_t a = (uint64_t)w->id + 1, b = a * 3, c = a * 7, d = a ^ 0x5555, e = a + 11, g = a * a;
  double x = w->id * 0.5 + 1, y = 1.0 / (w->id + 1), z = 3.25, u = x * y, v = x + y;
  for (int i = 0; i < NSTEP; i++) {
    a = a * 6364136223846793005u + 1442695040888963407u;
    b ^= a >> 13;
    c += b * 31;
    d = (d << 7) | (d >> 57);
    e += c ^ d;
    g -= e;
    x = x * 1.0001 + y;
    y = y * 0.999 + z * 1e-3;
    z = z + u * 1e-4;
    u = u * 0.5 + v * 0.25;
    v = v + x * 1e-6;
    if (f) weft__fiber_yield(f);
  }
  w->ires = a ^ b ^ c ^ d ^ e ^ g;
  w->dres = x + y + z + u + v;
}

static void worker_fn(weft__fiber *f, void *arg) { compute(f, arg); }

static void test_interleaved_state(void) {
  static weft__fiber fibers[NFIB];
  static worker ws[NFIB], ref[NFIB];
  for (int i = 0; i < NFIB; i++) {
    ws[i] = (worker){.id = i};
    ref[i] = (worker){.id = i};
    compute(NULL, &ref[i]);
    REQUIRE(weft__fiber_init(&fibers[i], 16 * 1024, worker_fn, &ws[i]) == 0);
  }
  int done = 0, rounds = 0;
  while (done < NFIB && rounds++ <= NSTEP + 1) {
    for (int i = 0; i < NFIB; i++)
      if (!fibers[i].finished && weft__fiber_resume(&fibers[i])) done++;
  }
  CHECK_INT(done, NFIB);
  for (int i = 0; i < NFIB; i++) {
    CHECK(ws[i].ires == ref[i].ires);
    CHECK(ws[i].dres == ref[i].dres);
    weft__fiber_release(&fibers[i]);
  }
}

/* The resumer's own locals survive: the main side keeps a running computation across resumes. */
static void idle_fn(weft__fiber *f, void *arg) {
  while (!*(bool *)arg) weft__fiber_yield(f);
}

static void test_resumer_registers(void) {
  weft__fiber f;
  bool stop = false;
  REQUIRE(weft__fiber_init(&f, 0, idle_fn, &stop) == 0);
  uint64_t a = 1, b = 2, c = 3, d = 4, e = 5, g = 6;
  double x = 1.5, y = 2.5, z = 3.5;
  for (int i = 0; i < 500; i++) {
    a = a * 3 + (uint64_t)i;
    b += a >> 3;
    c ^= b;
    d += c * 5;
    e -= d;
    g += e ^ a;
    x = x * 1.01 + 0.5;
    y = y / 1.01 + x * 1e-3;
    z = z + y * 1e-2;
    weft__fiber_resume(&f);
  }
  uint64_t ra = 1, rb = 2, rc = 3, rd = 4, re = 5, rg = 6;
  double rx = 1.5, ry = 2.5, rz = 3.5;
  for (int i = 0; i < 500; i++) {
    ra = ra * 3 + (uint64_t)i;
    rb += ra >> 3;
    rc ^= rb;
    rd += rc * 5;
    re -= rd;
    rg += re ^ ra;
    rx = rx * 1.01 + 0.5;
    ry = ry / 1.01 + rx * 1e-3;
    rz = rz + ry * 1e-2;
  }
  CHECK(a == ra && b == rb && c == rc && d == rd && e == re && g == rg);
  CHECK(x == rx && y == ry && z == rz);
  stop = true;
  CHECK(weft__fiber_resume(&f));
  weft__fiber_release(&f);
}

#if defined(__x86_64__)
/* MXCSR is per context: a fiber's rounding mode does not leak into its resumer, and a new fiber
 * starts with the default mode. (SSE rounding bits read directly: no libm needed.) */
static unsigned fiber_round_seen;
static unsigned get_round(void) { return _mm_getcsr() & _MM_ROUND_MASK; }
static void set_round(unsigned mode) { _mm_setcsr((_mm_getcsr() & ~_MM_ROUND_MASK) | mode); }

static void round_fn(weft__fiber *f, void *arg) {
  (void)arg;
  fiber_round_seen = get_round();
  set_round(_MM_ROUND_UP);
  weft__fiber_yield(f);
  fiber_round_seen = get_round();
}

static void test_fp_control_per_context(void) {
  weft__fiber f;
  REQUIRE(weft__fiber_init(&f, 0, round_fn, NULL) == 0);
  set_round(_MM_ROUND_TOWARD_ZERO);
  weft__fiber_resume(&f);
  CHECK_INT(fiber_round_seen, _MM_ROUND_NEAREST);
  CHECK_INT(get_round(), _MM_ROUND_TOWARD_ZERO);
  weft__fiber_resume(&f);
  CHECK_INT(fiber_round_seen, _MM_ROUND_UP);
  CHECK_INT(get_round(), _MM_ROUND_TOWARD_ZERO);
  set_round(_MM_ROUND_NEAREST);
  weft__fiber_release(&f);
}
#endif

#if defined(__x86_64__) && !defined(WEFT_CORO_UCONTEXT)
/* Callee-saved registers checked directly (an unoptimised build keeps locals in memory, so the
 * tests above alone could miss a register the switch forgets): probe(fn, arg, seed) loads
 * seed+0..5 into rbx, rbp, r12-r15, calls fn(arg), and returns a bit per register that came back
 * changed. The resumer probes around a resume while the fiber probes (other values) around its
 * yield, so a register the switch did not restore shows up on one side. */
unsigned probe_callee_saved(void (*fn)(void *), void *arg, uint64_t seed);
__asm__(".text\n.p2align 4\n.globl probe_callee_saved\n.type probe_callee_saved, @function\n"
        "probe_callee_saved:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  pushq %rdx\n"
        "  movq %rdi, %rax\n  movq %rsi, %rdi\n"
        "  movq %rdx, %rbx\n  leaq 1(%rdx), %rbp\n  leaq 2(%rdx), %r12\n"
        "  leaq 3(%rdx), %r13\n  leaq 4(%rdx), %r14\n  leaq 5(%rdx), %r15\n"
        "  callq *%rax\n"
        "  popq %rdx\n  xorl %eax, %eax\n"
        "  cmpq %rdx, %rbx\n  je 1f\n  orl $1, %eax\n1:\n"
        "  leaq 1(%rdx), %rcx\n  cmpq %rcx, %rbp\n  je 2f\n  orl $2, %eax\n2:\n"
        "  leaq 2(%rdx), %rcx\n  cmpq %rcx, %r12\n  je 3f\n  orl $4, %eax\n3:\n"
        "  leaq 3(%rdx), %rcx\n  cmpq %rcx, %r13\n  je 4f\n  orl $8, %eax\n4:\n"
        "  leaq 4(%rdx), %rcx\n  cmpq %rcx, %r14\n  je 5f\n  orl $16, %eax\n5:\n"
        "  leaq 5(%rdx), %rcx\n  cmpq %rcx, %r15\n  je 6f\n  orl $32, %eax\n6:\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n.size probe_callee_saved, .-probe_callee_saved\n");

static weft__fiber probe_fiber;
static unsigned probe_fiber_bad = 99;

static void probe_yield(void *arg) { weft__fiber_yield(arg); }
static void probe_resume(void *arg) { weft__fiber_resume(arg); }
static void probe_fiber_fn(weft__fiber *f, void *arg) {
  (void)arg;
  probe_fiber_bad = probe_callee_saved(probe_yield, f, 0xF1B3000000000000u);
}

static void test_callee_saved_registers(void) {
  REQUIRE(weft__fiber_init(&probe_fiber, 0, probe_fiber_fn, NULL) == 0);
  /* main -> fiber (fiber's probe loads its values, yields) -> main: main's values must be back */
  CHECK_INT(probe_callee_saved(probe_resume, &probe_fiber, 0xA1A1000000000000u), 0);
  /* main -> fiber: the fiber's values must be back when its yield returns */
  CHECK_INT(probe_callee_saved(probe_resume, &probe_fiber, 0xB2B2000000000000u), 0);
  CHECK(probe_fiber.finished);
  CHECK_INT(probe_fiber_bad, 0);
  weft__fiber_release(&probe_fiber);
}
#endif

/* ---- nesting: a fiber resumes another, which yields back to it, not to main ---- */

static weft__fiber inner, outer;
static char trace[16];
static int ntrace;

static void inner_fn(weft__fiber *f, void *arg) {
  (void)arg;
  trace[ntrace++] = 'b';
  weft__fiber_yield(f);
  trace[ntrace++] = 'd';
}

static void outer_fn(weft__fiber *f, void *arg) {
  (void)arg;
  trace[ntrace++] = 'a';
  weft__fiber_resume(&inner);
  trace[ntrace++] = 'c';
  weft__fiber_yield(f);
  CHECK(weft__fiber_resume(&inner));
  trace[ntrace++] = 'e';
}

static void test_nested(void) {
  REQUIRE(weft__fiber_init(&inner, 0, inner_fn, NULL) == 0);
  REQUIRE(weft__fiber_init(&outer, 0, outer_fn, NULL) == 0);
  CHECK(!weft__fiber_resume(&outer));
  trace[ntrace++] = '|';
  CHECK(weft__fiber_resume(&outer));
  trace[ntrace] = 0;
  CHECK_STR(trace, "abc|de");
  weft__fiber_release(&inner);
  weft__fiber_release(&outer);
}

/* ---- stacks: rounding, pool reuse, pool bound ---- */

static void nop_fn(weft__fiber *f, void *arg) {
  (void)f;
  (void)arg;
}

static void test_stack_pool(void) {
  weft__coro_stack_pool_drain();
  size_t live0 = weft__coro_stack_live();
  long page = sysconf(_SC_PAGESIZE);

  weft__coro_stack s;
  REQUIRE(weft__coro_stack_get(&s, 1000) == 0);
  CHECK_INT(s.size, page);
  CHECK_INT(weft__coro_stack_live(), live0 + 1);
  void *lo = s.lo;
  weft__coro_stack_put(&s);
  CHECK(s.map == NULL);
  CHECK_INT(weft__coro_stack_pool_len(), 1);

  /* A fiber asking for the same size gets the pooled stack back: no new mapping. */
  weft__fiber f;
  REQUIRE(weft__fiber_init(&f, (size_t)page, nop_fn, NULL) == 0);
  CHECK(f.stack.lo == lo);
  CHECK_INT(weft__coro_stack_pool_len(), 0);
  CHECK_INT(weft__coro_stack_live(), live0 + 1);
  CHECK(weft__fiber_resume(&f));
  weft__fiber_release(&f);
  CHECK_INT(weft__coro_stack_pool_len(), 1);

  /* A default-size request does not take the one-page stack. */
  weft__coro_stack d;
  REQUIRE(weft__coro_stack_get(&d, 0) == 0);
  CHECK_INT(d.size, WEFT__CORO_STACK_DEFAULT);
  CHECK_INT(weft__coro_stack_live(), live0 + 2);
  weft__coro_stack_put(&d);

  /* The pool is bounded: past WEFT__CORO_POOL_MAX, released stacks are unmapped. */
  enum { N = WEFT__CORO_POOL_MAX + 10 };
  static weft__coro_stack many[N];
  for (int i = 0; i < N; i++) REQUIRE(weft__coro_stack_get(&many[i], 8192) == 0);
  for (int i = 0; i < N; i++) weft__coro_stack_put(&many[i]);
  CHECK_INT(weft__coro_stack_pool_len(), WEFT__CORO_POOL_MAX);
  CHECK_INT(weft__coro_stack_live(), live0 + WEFT__CORO_POOL_MAX);
  weft__coro_stack_pool_drain();
  CHECK_INT(weft__coro_stack_pool_len(), 0);
  CHECK_INT(weft__coro_stack_live(), live0);
}

/* ---- the guard page: running off the stack dies with SIGSEGV ---- */

static int recurse(int n) {
  volatile char frame[256];
  frame[0] = (char)n;
  frame[255] = (char)n;
  return n <= 0 ? frame[0] : recurse(n - 1) + frame[255];
}

static void overflow_fn(weft__fiber *f, void *arg) {
  (void)f;
  *(volatile int *)arg = recurse(1 << 20);
}

static void test_guard_page(void) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    /* Sanitizers catch SIGSEGV to report it; the point here is what the kernel does. */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    static volatile int sink;
    weft__fiber f;
    if (weft__fiber_init(&f, 16 * 1024, overflow_fn, (void *)&sink) != 0) _exit(2);
    weft__fiber_resume(&f);
    _exit(0); /* not reached: 2^20 frames of 256 bytes cannot fit in 16 KiB */
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  if (WIFSIGNALED(status)) CHECK_INT(WTERMSIG(status), SIGSEGV);
}

int main(void) {
  RUN(test_pingpong);
  RUN(test_interleaved_state);
  RUN(test_resumer_registers);
#if defined(__x86_64__)
  RUN(test_fp_control_per_context);
#endif
#if defined(__x86_64__) && !defined(WEFT_CORO_UCONTEXT)
  RUN(test_callee_saved_registers);
#endif
  RUN(test_nested);
  RUN(test_stack_pool);
  RUN(test_guard_page);
  weft__coro_stack_pool_drain();
  return CHECK_DONE();
}
