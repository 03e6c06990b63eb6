/* transport.c: the public transport calls, dispatched to each implementation's table, and the
 * consumer side of flow control shared by all of them (Twisted's FileDescriptor producer logic:
 * pause the producer above the high-water mark, resume it below the low one). */
#include <limits.h>

#include "net/transport_internal.h"
#include "weft/errors.h"

static void pull_more(weft__task *task);

void weft__transport_init(weft_transport *t, const weft__transport_ops *ops, weft_reactor *r) {
  t->ops = ops;
  t->r = r;
  t->high_water = WEFT_TRANSPORT_HIGH_WATER_DEFAULT;
  t->low_water = WEFT_TRANSPORT_LOW_WATER_DEFAULT;
  t->pull_task.fn = pull_more;
}

static weft_transport *from_pull_task(weft__task *task) {
  return (weft_transport *)((char *)task - offsetof(weft_transport, pull_task));
}

static void pull_more(weft__task *task) {
  weft_transport *t = from_pull_task(task);
  if (t->has_producer && !t->streaming && t->buffered <= t->low_water && t->producer.resume_producing)
    t->producer.resume_producing(t->producer.user);
}

void weft__transport_buffer_changed(weft_transport *t) {
  if (!t->has_producer || t->closing) return;
  if (t->streaming) {
    if (!t->producer_paused && t->buffered > t->high_water) {
      t->producer_paused = true;
      if (t->producer.pause_producing) t->producer.pause_producing(t->producer.user);
    } else if (t->producer_paused && t->buffered <= t->low_water) {
      t->producer_paused = false;
      if (t->producer.resume_producing) t->producer.resume_producing(t->producer.user);
    }
  } else if (t->buffered <= t->low_water && t->r) {
    weft__task_queue(t->r, &t->pull_task);
  }
}

void weft__transport_lost(weft_transport *t) {
  t->closing = true;
  if (t->r) weft__task_cancel(t->r, &t->pull_task);
  if (!t->has_producer) return;
  t->has_producer = false;
  if (t->producer.stop_producing) t->producer.stop_producing(t->producer.user);
}

int weft_transport_write(weft_transport *t, const void *buf, size_t len) {
  struct iovec iov = {(void *)buf, len};
  return weft_transport_writev(t, &iov, 1);
}

int weft_transport_writev(weft_transport *t, const struct iovec *iov, int iovcnt) {
  if (t->closing || t->write_shut) return WEFT_ECLOSED;
  if (iovcnt < 0 || (iovcnt > 0 && !iov)) return WEFT_EINVAL;
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
  if (total == 0) return 0;
  return t->ops->write(t, iov, iovcnt, total);
}

int weft_transport_lose_connection(weft_transport *t) {
  if (t->closing) return 0;
  t->closing = true;
  /* the producer stays registered but is no longer paused, resumed or asked for more (its writes
   * would be refused); it gets stop_producing when the connection is gone, as in Twisted */
  t->ops->lose_connection(t);
  return 0;
}

int weft_transport_abort_connection(weft_transport *t) {
  t->ops->abort_connection(t);
  return 0;
}

int weft_transport_shutdown_write(weft_transport *t) {
  if (t->closing || t->write_shut) return WEFT_ECLOSED;
  if (!t->ops->shutdown_write) return WEFT_ENOTSUP;
  t->write_shut = true;
  return t->ops->shutdown_write(t);
}

void weft_transport_pause_reading(weft_transport *t) {
  if (t->reading_paused) return;
  t->reading_paused = true;
  t->ops->set_reading(t, false);
}

void weft_transport_resume_reading(weft_transport *t) {
  if (!t->reading_paused) return;
  t->reading_paused = false;
  t->ops->set_reading(t, true);
}

int weft_transport_get_peer(weft_transport *t, weft_address *out) {
  return t->ops->get_peer ? t->ops->get_peer(t, out) : WEFT_ENOTSUP;
}

int weft_transport_get_host(weft_transport *t, weft_address *out) {
  return t->ops->get_host ? t->ops->get_host(t, out) : WEFT_ENOTSUP;
}

int weft_transport_set_nodelay(weft_transport *t, bool on) {
  return t->ops->set_option ? t->ops->set_option(t, WEFT__OPT_NODELAY, on) : WEFT_ENOTSUP;
}

int weft_transport_set_keepalive(weft_transport *t, bool on) {
  return t->ops->set_option ? t->ops->set_option(t, WEFT__OPT_KEEPALIVE, on) : WEFT_ENOTSUP;
}

int weft_transport_splice_to(weft_transport *from, weft_transport *to) {
  if (!from || !to) return WEFT_EINVAL;
  if (!from->ops->splice_to) return WEFT_ENOTSUP;
  if (from->closing || to->closing || to->write_shut) return WEFT_ECLOSED;
  return from->ops->splice_to(from, to);
}

int weft_transport_sendfile(weft_transport *t, int fd, off_t offset, size_t len) {
  if (!t->ops->sendfile) return WEFT_ENOTSUP;
  if (t->closing || t->write_shut) return WEFT_ECLOSED;
  if (fd < 0 || offset < 0) return WEFT_EINVAL;
  return t->ops->sendfile(t, fd, offset, len);
}

size_t weft_transport_buffered(const weft_transport *t) { return t->buffered; }

int weft_transport_set_water_marks(weft_transport *t, size_t high, size_t low) {
  if (high == 0 && low == 0) {
    high = WEFT_TRANSPORT_HIGH_WATER_DEFAULT;
    low = WEFT_TRANSPORT_LOW_WATER_DEFAULT;
  }
  if (low > high || high > UINT32_MAX) return WEFT_EINVAL;
  t->high_water = (uint32_t)high;
  t->low_water = (uint32_t)low;
  weft__transport_buffer_changed(t);
  return 0;
}

int weft_transport_register_producer(weft_transport *t, const weft_producer *p, bool streaming) {
  if (!p) return WEFT_EINVAL;
  if (t->has_producer) return WEFT_EBUSY;
  if (t->closing) return WEFT_ECLOSED;
  t->producer = *p;
  t->has_producer = true;
  t->streaming = streaming;
  t->producer_paused = false;
  if (streaming) weft__transport_buffer_changed(t);
  else if (t->r) weft__task_queue(t->r, &t->pull_task);
  return 0;
}

void weft_transport_unregister_producer(weft_transport *t) {
  t->has_producer = false;
  if (t->r) weft__task_cancel(t->r, &t->pull_task);
}

static void as_producer_pause(void *user) { weft_transport_pause_reading(user); }
static void as_producer_resume(void *user) { weft_transport_resume_reading(user); }
static void as_producer_stop(void *user) { weft_transport_abort_connection(user); }

void weft_transport_as_producer(weft_transport *t, weft_producer *out) {
  out->pause_producing = as_producer_pause;
  out->resume_producing = as_producer_resume;
  out->stop_producing = as_producer_stop;
  out->user = t;
}

weft_reactor *weft_transport_reactor(const weft_transport *t) { return t->r; }
bool weft_transport_closing(const weft_transport *t) { return t->closing; }
