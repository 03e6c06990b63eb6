/* Tests src/base/alloc.c (weft_set_allocator) and the test kit's failing allocator
 * (src/testing/failing_alloc.c). The allocator is process-wide and set once, so each case that
 * installs one runs in a child process of its own. */
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "weft/alloc.h"
#include "weft/deferred.h"
#include "weft/errors.h"
#include "weft/log.h"

/* A user allocator that counts through its user_data. */
typedef struct counts {
  atomic_int mallocs, callocs, reallocs, frees, live;
  void *seen_user;
} counts;

static void *u_malloc(size_t n, void *u) {
  counts *c = u;
  c->seen_user = u;
  c->mallocs++;
  c->live++;
  return malloc(n);
}

static void *u_calloc(size_t n, size_t size, void *u) {
  counts *c = u;
  c->callocs++;
  c->live++;
  return calloc(n, size);
}

static void *u_realloc(void *p, size_t n, void *u) {
  counts *c = u;
  c->reallocs++;
  if (!p) c->live++;
  return realloc(p, n);
}

static void u_free(void *p, void *u) {
  counts *c = u;
  if (p) {
    c->frees++;
    c->live--;
  }
  free(p);
}

static counts the_counts;
static const weft_allocator user_alloc = {u_malloc, u_calloc, u_realloc, u_free, &the_counts};

/* Runs fn in a child process; the test fails if the child's checks did. */
static void in_child(int (*fn)(void)) {
  fflush(stderr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    check_failures = 0; /* the child reports only its own checks */
    _exit(fn());
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_invalid(void) {
  CHECK_INT(weft_set_allocator(NULL), WEFT_EINVAL);
  weft_allocator a = user_alloc;
  a.realloc = NULL;
  CHECK_INT(weft_set_allocator(&a), WEFT_EINVAL);
  a = user_alloc;
  a.free = NULL;
  CHECK_INT(weft_set_allocator(&a), WEFT_EINVAL);
}

/* Memory weft holds came from the C library: a later allocator must not be handed it. */
static int refused_after_allocation(void) {
  weft_log_publisher *p = NULL;
  CHECK_INT(weft_log_publisher_new(&p), 0);
  CHECK_INT(weft_set_allocator(&user_alloc), WEFT_ESTATE);
  CHECK_INT(weft_test_allocator_install(), WEFT_ESTATE);
  weft_log_publisher_free(p);
  CHECK_INT(weft_set_allocator(&user_alloc), WEFT_ESTATE); /* still: the choice is made */
  CHECK_INT(the_counts.mallocs + the_counts.callocs, 0);
  return CHECK_DONE();
}

static void test_refused_after_allocation(void) { in_child(refused_after_allocation); }

static weft_value add_one(weft_value v, void *arg) {
  (void)arg;
  return weft_int(v.v.i + 1);
}

/* Every allocation and free goes through the user's functions, with its user_data. */
static int user_allocator(void) {
  CHECK_INT(weft_set_allocator(&user_alloc), 0);
  CHECK_INT(weft_set_allocator(&user_alloc), WEFT_ESTATE); /* set once */
  weft_log_publisher *p = NULL;
  CHECK_INT(weft_log_publisher_new(&p), 0);
  CHECK_INT(the_counts.callocs, 1);
  weft_deferred *d = weft_deferred_new(p);
  REQUIRE(d);
  CHECK_INT(the_counts.mallocs, 1);
  CHECK(the_counts.seen_user == &the_counts);
  for (int i = 0; i < 5; i++) weft_deferred_add_callback(d, add_one, NULL); /* grows the steps */
  CHECK_INT(the_counts.mallocs + the_counts.reallocs, 2);
  weft_deferred_callback(d, weft_int(1));
  CHECK_INT(weft_deferred_result(d).v.i, 6);
  weft_deferred_unref(d);
  weft_log_publisher_free(p);
  CHECK_INT(the_counts.frees, 3);
  CHECK_INT(the_counts.live, 0);
  return CHECK_DONE();
}

static void test_user_allocator(void) { in_child(user_allocator); }

static void nop_observer(const weft_log_event *ev, void *user) {
  (void)ev;
  (void)user;
}

static int test_kit_allocator(void) {
  CHECK_INT(weft_test_allocator_install(), 0);
  CHECK_INT(weft_test_allocator_install(), 0); /* already ours: fine */
  CHECK_INT(weft_set_allocator(&user_alloc), WEFT_ESTATE);
  weft_test_alloc_stats st;
  weft_log_publisher *p = NULL;

  weft_test_allocator_fail_at(1, false); /* the next call fails, the one after does not */
  CHECK_INT(weft_log_publisher_new(&p), WEFT_ENOMEM);
  CHECK_INT(weft_log_publisher_new(&p), 0);
  weft_test_allocator_stats(&st);
  CHECK_INT(st.calls, 2);
  CHECK_INT(st.failed, 1);
  CHECK_INT(st.live, 1);

  weft_test_allocator_fail_at(1, true); /* from the next call on, all fail */
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_INFO, nop_observer, NULL), WEFT_ENOMEM);
  CHECK(weft_deferred_new(p) == NULL);
  weft_test_allocator_stats(&st);
  CHECK_INT(st.calls, 2);
  CHECK_INT(st.failed, 2);

  weft_test_allocator_fail_at(0, false);
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_INFO, nop_observer, NULL), 0);
  weft_test_allocator_stats(&st);
  CHECK_INT(st.live, 2);
  weft_log_publisher_free(p);
  weft_test_allocator_stats(&st);
  CHECK_INT(st.calls, 1);
  CHECK_INT(st.failed, 0);
  CHECK_INT(st.live, 0);
  return CHECK_DONE();
}

static void test_test_kit_allocator(void) { in_child(test_kit_allocator); }

int main(void) {
  RUN(test_invalid);
  RUN(test_refused_after_allocation);
  RUN(test_user_allocator);
  RUN(test_test_kit_allocator);
  return CHECK_DONE();
}
