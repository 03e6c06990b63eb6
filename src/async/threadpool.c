/* threadpool.c: the reactor's thread pool (twisted.python.threadpool.ThreadPool, with
 * twisted.internet.threads.deferToThread and blockingCallFromThread).
 *
 * Threads: the pool's mutex guards every field that workers and the reactor share (the queue, the
 * done list, the counters, the options, the worker list). Jobs and their results cross between
 * threads only through those lists, so the mutex orders every hand-over. Deferreds are touched on
 * the reactor thread only. Workers report back with one call_from_thread per batch (`posted`):
 * the reactor drains the done list and fires the Deferreds there. That call is allocated ahead,
 * one per job when it is queued (and one per pool for the last worker's exit), so a worker can
 * always report, however short of memory the process is by then. */
#include <math.h> /* isnan, a macro: no libm needed */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "async/deferred_internal.h"
#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"
#include "weft/threads.h"

typedef struct weft_threadpool weft_threadpool;

typedef enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE } job_state;

typedef struct job job;
struct job {
  job *next, *prev; /* the queue (both links) or the done list (next only); under the mutex */
  weft_threadpool *pool;
  weft_value (*fn)(void *arg);
  void *arg;
  weft_deferred *d;  /* the job's reference; reactor thread only */
  weft_value result; /* written by the worker before it moves the job to the done list */
  weft__thread_call *report; /* the drain this job's worker may post; under the mutex */
  job_state state;   /* under the mutex */
};

typedef struct worker worker;
struct worker {
  worker *next;
  weft_threadpool *pool;
  pthread_t tid;
  bool exited; /* under the mutex: its loop is over, so joining it takes no time */
};

struct weft_threadpool {
  weft_reactor *r;         /* set once, before any thread starts */
  weft_trigger *trigger;   /* reactor thread only, as the three below */
  weft_trigger_hold *hold; /* taken by the shutdown trigger, released when the pool is gone */
  int reentry;             /* > 0 while the pool runs user callbacks: it must not be freed then */

  pthread_mutex_t mu;
  pthread_cond_t work_cv; /* idle workers wait here (CLOCK_MONOTONIC, for idle timeouts) */
  /* the rest under mu */
  weft_threadpool_options o;
  job *queue_head, *queue_tail;
  job *done_head, *done_tail;
  worker *workers;
  size_t alive, idle, busy, queued, peak;
  uint64_t completed, cancelled;
  bool stopping;
  bool posted; /* a drain is queued on the reactor (or about to be): the pool must stay */
  weft__thread_call *exit_report; /* for the last worker out of a stopping pool */
};

void weft_threadpool_options_init(weft_threadpool_options *o) {
  o->min_threads = 0;
  o->max_threads = 10;
  o->queue_limit = 1024;
  o->idle_timeout = 60.0;
}

static bool options_valid(const weft_threadpool_options *o) {
  return o->max_threads > 0 && o->min_threads <= o->max_threads && o->idle_timeout >= 0 && !isnan(o->idle_timeout);
}

static weft_failure *cancelled_failure(void) {
  return weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_ECANCELED, "thread pool stopped before the job ran");
}

/* ---- worker threads ---- */

static void drain(void *arg);

/* Tells the reactor to drain, with a call allocated ahead: the reactor must hear of every
 * finished job and of the last exit, or a Deferred never fires and a shutdown never ends. */
static void post_drain(weft_threadpool *p, weft__thread_call *c) { weft__reactor_post(p->r, c, drain, p); }

static void deadline_after(struct timespec *ts, double seconds) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  if (seconds > 1e9) seconds = 1e9; /* over 30 years: as good as never, and no overflow */
  time_t whole = (time_t)seconds;    /* seconds > 0 here: truncation is floor, without libm */
  ts->tv_sec += whole;
  ts->tv_nsec += (long)((seconds - (double)whole) * 1e9);
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* Under the mutex: waits for a job and takes it, or returns NULL when this worker should exit
 * (the pool stops, max_threads was lowered, or it stayed idle too long above min_threads). */
static job *take_job(weft_threadpool *p) {
  struct timespec deadline;
  bool timed = false, expired = false;
  for (;;) {
    if (p->stopping || p->alive > p->o.max_threads) return NULL;
    job *j = p->queue_head;
    if (j) {
      p->queue_head = j->next;
      if (p->queue_head) p->queue_head->prev = NULL;
      else p->queue_tail = NULL;
      p->queued--;
      p->busy++;
      j->state = JOB_RUNNING;
      return j;
    }
    bool may_expire = p->alive > p->o.min_threads && p->o.idle_timeout > 0;
    if (expired && may_expire) return NULL;
    if (may_expire && !timed) {
      deadline_after(&deadline, p->o.idle_timeout);
      timed = true;
    }
    p->idle++;
    int rc = may_expire ? pthread_cond_timedwait(&p->work_cv, &p->mu, &deadline) : pthread_cond_wait(&p->work_cv, &p->mu);
    p->idle--;
    expired = rc == ETIMEDOUT;
  }
}

static void *worker_main(void *arg) {
  worker *w = arg;
  weft_threadpool *p = w->pool;
  pthread_mutex_lock(&p->mu);
  job *j;
  while ((j = take_job(p)) != NULL) {
    pthread_mutex_unlock(&p->mu);
    weft_value v = j->fn(j->arg);
    pthread_mutex_lock(&p->mu);
    j->result = v;
    j->state = JOB_DONE;
    j->next = NULL;
    if (p->done_tail) p->done_tail->next = j;
    else p->done_head = j;
    p->done_tail = j;
    p->busy--;
    p->completed++;
    if (!p->posted) {
      p->posted = true;
      weft__thread_call *c = j->report; /* taken under the mutex: j is the reactor's once posted */
      j->report = NULL;
      pthread_mutex_unlock(&p->mu);
      post_drain(p, c);
      pthread_mutex_lock(&p->mu);
    }
  }
  p->alive--;
  w->exited = true; /* from here on w is the joiner's; p stays until this thread is joined */
  bool tell = p->stopping && p->alive == 0 && !p->posted;
  weft__thread_call *c = NULL;
  if (tell) {
    p->posted = true;
    c = p->exit_report; /* once: a stopping pool starts no worker, so alive reaches 0 once */
    p->exit_report = NULL;
  }
  pthread_mutex_unlock(&p->mu);
  if (tell) post_drain(p, c); /* the last one out: the reactor can now join and free the pool */
  return NULL;
}

/* Under the mutex: joins the workers that have exited (they no longer need the mutex). */
static void reap(weft_threadpool *p) {
  worker **pp = &p->workers;
  while (*pp) {
    worker *w = *pp;
    if (!w->exited) {
      pp = &w->next;
      continue;
    }
    pthread_join(w->tid, NULL);
    *pp = w->next;
    weft__free(w);
  }
}

/* Under the mutex: starts one worker. Returns 0, WEFT_ENOMEM or pthread_create's error. */
static int spawn(weft_threadpool *p) {
  reap(p);
  worker *w = weft__calloc(1, sizeof *w);
  if (!w) return WEFT_ENOMEM;
  w->pool = p;
  /* workers block every signal, so asynchronous signals go to the application's threads */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&w->tid, NULL, worker_main, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    weft__free(w);
    return -rc;
  }
  w->next = p->workers;
  p->workers = w;
  p->alive++;
  if (p->alive > p->peak) p->peak = p->alive;
  return 0;
}

/* ---- the reactor side ---- */

static void on_shutdown(weft_trigger_ctx *ctx, void *arg);

static int pool_new(weft_threadpool **out, weft_reactor *r, const weft_threadpool_options *o) {
  weft_threadpool *p = weft__calloc(1, sizeof *p);
  if (!p) return WEFT_ENOMEM;
  if (!(p->exit_report = weft__thread_call_new())) {
    weft__free(p);
    return WEFT_ENOMEM;
  }
  p->r = r;
  if (o) p->o = *o;
  else weft_threadpool_options_init(&p->o);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int rc = pthread_cond_init(&p->work_cv, &ca);
  pthread_condattr_destroy(&ca);
  if (rc != 0) {
    weft__thread_call_free(p->exit_report);
    weft__free(p);
    return -rc;
  }
  pthread_mutex_init(&p->mu, NULL);
  if ((rc = weft_reactor_add_trigger(&p->trigger, r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_BEFORE, on_shutdown, p)) != 0) {
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->mu);
    weft__thread_call_free(p->exit_report);
    weft__free(p);
    return rc;
  }
  weft__handle_ref(r);
  r->threadpool = p;
  *out = p;
  return 0;
}

/* Every thread has exited and no drain is pending: joins them and frees the pool. */
static void pool_free(weft_threadpool *p) {
  weft_reactor *r = p->r;
  pthread_mutex_lock(&p->mu);
  reap(p);
  pthread_mutex_unlock(&p->mu);
  weft_reactor_remove_trigger(r, p->trigger);
  if (r->threadpool == p) r->threadpool = NULL;
  weft_trigger_release(p->hold);
  pthread_cond_destroy(&p->work_cv);
  pthread_mutex_destroy(&p->mu);
  weft__thread_call_free(p->exit_report); /* NULL when the last worker used it */
  weft__free(p);
  weft__handle_unref(r);
}

/* Frees a stopping pool if nothing can reach it any more. Returns true if it did. */
static bool maybe_free(weft_threadpool *p) {
  if (p->reentry > 0) return false; /* the outer caller checks again when the callbacks return */
  pthread_mutex_lock(&p->mu);
  bool done = p->stopping && p->alive == 0 && !p->posted;
  pthread_mutex_unlock(&p->mu);
  if (done) pool_free(p);
  return done;
}

/* Fires the job's Deferred with v (owned) and frees the job. */
static void settle(job *j, weft_value v) {
  weft_deferred *d = j->d;
  weft__thread_call_free(j->report); /* NULL when its worker posted it */
  weft__free(j);
  /* a Deferred cancelled while its job ran has fired already: v is then released here */
  weft_deferred_callback(d, v);
  weft_deferred_unref(d);
}

static void deliver(job *j) {
  weft_value v = j->result;
  if (v.kind == WEFT_VALUE_DEFERRED) {
    weft_value_release(v);
    v = weft_failed(weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_EINVAL, "a thread job returned a Deferred"));
  }
  settle(j, v);
}

/* call_from_thread target: fires the Deferreds of the jobs done since the last drain. */
static void drain(void *arg) {
  weft_threadpool *p = arg;
  pthread_mutex_lock(&p->mu);
  job *j = p->done_head;
  p->done_head = p->done_tail = NULL;
  p->posted = false;
  pthread_mutex_unlock(&p->mu);
  p->reentry++;
  while (j) {
    job *next = j->next;
    deliver(j);
    j = next;
  }
  p->reentry--;
  maybe_free(p);
}

/* Stops the pool: no new jobs, queued ones fail, idle workers exit, busy ones after their job. */
static int pool_stop(weft_threadpool *p) {
  pthread_mutex_lock(&p->mu);
  if (p->stopping) {
    pthread_mutex_unlock(&p->mu);
    return WEFT_EALREADY;
  }
  p->stopping = true;
  job *j = p->queue_head;
  p->queue_head = p->queue_tail = NULL;
  p->cancelled += p->queued;
  p->queued = 0;
  for (job *k = j; k; k = k->next) k->state = JOB_DONE; /* their cancellers now do nothing */
  pthread_cond_broadcast(&p->work_cv);
  pthread_mutex_unlock(&p->mu);
  p->reentry++;
  while (j) {
    job *next = j->next;
    settle(j, weft_failed(cancelled_failure()));
    j = next;
  }
  p->reentry--;
  maybe_free(p);
  return 0;
}

/* "Before shutdown": hold the shutdown until the running jobs are delivered and the threads joined. */
static void on_shutdown(weft_trigger_ctx *ctx, void *arg) {
  weft_threadpool *p = arg;
  if (!p->hold) p->hold = weft_trigger_hold_new(ctx); /* released by pool_free, maybe at once */
  if (pool_stop(p) == WEFT_EALREADY) maybe_free(p);  /* stopped earlier (weft_threadpool_stop) */
}

/* The canceller of a job's Deferred: a queued job leaves the queue; a running one cannot be
 * stopped (the Deferred fails now and deliver releases the late result). */
static void job_cancel(weft_deferred *d, void *arg) {
  job *j = arg;
  weft_threadpool *p = j->pool;
  pthread_mutex_lock(&p->mu);
  bool queued = j->state == JOB_QUEUED;
  if (queued) {
    if (j->prev) j->prev->next = j->next;
    else p->queue_head = j->next;
    if (j->next) j->next->prev = j->prev;
    else p->queue_tail = j->prev;
    p->queued--;
    p->cancelled++;
  }
  pthread_mutex_unlock(&p->mu);
  if (!queued) return;
  weft__thread_call_free(j->report);
  weft__free(j);
  weft_deferred_unref(d); /* the job's reference: weft_deferred_cancel holds one meanwhile */
}

/* Queues j. Returns 0 or why it was refused (j is then not queued). */
static int submit(weft_threadpool *p, job *j) {
  int rc = 0, spawn_rc = 0;
  pthread_mutex_lock(&p->mu);
  if (p->stopping) rc = WEFT_ECANCELED;
  else if (p->o.queue_limit && p->queued >= p->o.queue_limit) rc = WEFT_ELIMIT;
  if (rc) goto out;
  j->prev = p->queue_tail;
  if (p->queue_tail) p->queue_tail->next = j;
  else p->queue_head = j;
  p->queue_tail = j;
  p->queued++;
  if (p->idle > 0) pthread_cond_signal(&p->work_cv);
  /* more jobs waiting than idle workers to take them: grow, up to the limit */
  if (p->queued > p->idle && p->alive < p->o.max_threads) spawn_rc = spawn(p);
  if (spawn_rc && p->alive == 0) {
    /* nobody will ever take it: refuse it rather than let it wait for a thread that never comes */
    p->queue_tail = j->prev;
    if (j->prev) j->prev->next = NULL;
    else p->queue_head = NULL;
    p->queued--;
    rc = spawn_rc;
  }
out:
  pthread_mutex_unlock(&p->mu);
  if (spawn_rc)
    weft_log_emit(weft_reactor_log(p->r), WEFT_LOG_WARN, "weft.threads", "could not start a worker thread: {error}",
                  WEFT_LOG_ERR("error", spawn_rc), WEFT_LOG_END);
  return rc;
}

static const char *refusal(int rc) {
  switch (rc) {
    case WEFT_ELIMIT: return "thread pool queue is full";
    case WEFT_ECANCELED: return "thread pool is stopping";
    default: return "could not start a worker thread";
  }
}

weft_deferred *weft_defer_to_thread(weft_reactor *r, weft_value (*fn)(void *arg), void *arg) {
  weft_log_publisher *log = weft_reactor_log(r);
  weft_threadpool *p = r->threadpool;
  int rc = p ? 0 : pool_new(&p, r, NULL);
  if (rc) return weft_fail(log, weft_failure_from_error(rc));
  job *j = weft__calloc(1, sizeof *j);
  if (j && !(j->report = weft__thread_call_new())) {
    weft__free(j);
    j = NULL;
  }
  if (!j) return weft_fail(log, weft_failure_from_error(WEFT_ENOMEM));
  j->pool = p;
  j->fn = fn;
  j->arg = arg;
  j->state = JOB_QUEUED;
  j->d = weft_deferred_new_cancellable(log, job_cancel, j);
  if (!j->d) {
    weft__thread_call_free(j->report);
    weft__free(j);
    return NULL;
  }
  weft_deferred *d = weft_deferred_ref(j->d);
  if ((rc = submit(p, j)) != 0) settle(j, weft_failed(weft_failure_new(WEFT_FAILURE_DOMAIN, rc, "%s", refusal(rc))));
  return d;
}

int weft_threadpool_configure(weft_reactor *r, const weft_threadpool_options *o) {
  weft_threadpool_options defaults;
  if (!o) {
    weft_threadpool_options_init(&defaults);
    o = &defaults;
  }
  if (!options_valid(o)) return WEFT_EINVAL;
  weft_threadpool *p = r->threadpool;
  if (!p) return pool_new(&p, r, o);
  int rc = 0;
  pthread_mutex_lock(&p->mu);
  if (p->stopping) {
    rc = WEFT_ECANCELED;
  } else {
    p->o = *o;
    pthread_cond_broadcast(&p->work_cv); /* idle workers re-read the limits */
    size_t waiting = p->queued > p->idle ? p->queued - p->idle : 0;
    while (waiting-- > 0 && p->alive < p->o.max_threads && spawn(p) == 0) {
    }
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

int weft_threadpool_stop(weft_reactor *r) { return r->threadpool ? pool_stop(r->threadpool) : WEFT_EALREADY; }

void weft_threadpool_stats_get(weft_reactor *r, weft_threadpool_stats *out) {
  *out = (weft_threadpool_stats){0};
  weft_threadpool *p = r->threadpool;
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  out->threads = p->alive;
  out->busy = p->busy;
  out->queued = p->queued;
  out->peak_threads = p->peak;
  out->completed = p->completed;
  out->cancelled = p->cancelled;
  out->exists = true;
  out->stopping = p->stopping;
  pthread_mutex_unlock(&p->mu);
}

/* ---- blockingCallFromThread ---- */

typedef struct block_call {
  weft_deferred *(*fn)(void *arg);
  void *arg;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
  weft_value result;
} block_call;

/* On the reactor thread: hands the result over. The waiting thread may free c as soon as the
 * mutex is released, so nothing touches c after that. */
static weft_value block_fired(weft_value v, void *arg) {
  block_call *c = arg;
  pthread_mutex_lock(&c->mu);
  c->result = v;
  c->done = true;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  return weft_none();
}

static void block_start(void *arg) {
  block_call *c = arg;
  weft_deferred *d = c->fn(c->arg);
  if (!d) {
    block_fired(weft_failed(weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_EINVAL, "the function returned no Deferred")), c);
    return;
  }
  /* a fresh step slot: Deferreds keep their first steps inline, so this does not allocate unless
   * fn's Deferred already has a long chain; if that growth fails, the waiting thread must still
   * be woken */
  if (weft__deferred_add_callbacks(d, block_fired, c, block_fired, c) != 0)
    block_fired(weft_failed(weft_failure_from_error(WEFT_ENOMEM)), c);
  weft_deferred_unref(d);
}

weft_value weft_block_on_reactor(weft_reactor *r, weft_deferred *(*fn)(void *arg), void *arg) {
  if (weft__reactor_current() == r)
    return weft_failed(weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_EDEADLK,
                                        "weft_block_on_reactor called on the reactor's own thread"));
  block_call c = {.fn = fn, .arg = arg};
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  int rc = weft_reactor_call_from_thread(r, block_start, &c);
  if (rc == 0) {
    pthread_mutex_lock(&c.mu);
    while (!c.done) pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
  }
  pthread_cond_destroy(&c.cv);
  pthread_mutex_destroy(&c.mu);
  return rc == 0 ? c.result : weft_failed(weft_failure_from_error(rc));
}
