/* process.h: child processes (twisted.internet.process: spawnProcess, ProcessProtocol,
 * utils.getProcessOutput / getProcessValue).
 *
 * weft_spawn_process starts a program with posix_spawn. Its stdin, stdout, stderr and any extra
 * descriptors asked for are pipes, each a weft_transport: writes to the child's stdin are queued
 * and flow-controlled like any transport's (register a producer with weft_process_transport(p, 0)),
 * and what the child writes arrives through the process protocol's callbacks.
 *
 * Nothing leaks into the child: every descriptor weft makes is close-on-exec, and the child
 * closes every descriptor it was not given (posix_spawn_file_actions_addclosefrom_np where glibc
 * has it), whatever the rest of the program left open.
 *
 * Reaping: where the kernel has pidfds (Linux 5.3 and later) each child's pidfd is watched by the
 * reactor; elsewhere the reactor watches SIGCHLD and calls waitpid on its own children only.
 * Either way every child is reaped exactly once, and never with waitpid(-1), so children started
 * by other code in the program keep their statuses; the exception is PID-1 mode
 * (weft_process_reaper_enable), meant for a container's entrypoint.
 *
 * The order of callbacks is Twisted's: connection_made; out_received, err_received and
 * child_data_received as data comes; child_connection_lost for each pipe as it closes;
 * process_exited once the child is reaped; process_ended, the last call, once it is reaped AND all
 * its pipes are closed. The process object is freed after process_ended returns. A process is an
 * open handle of its reactor until then. */
#ifndef WEFT_PROCESS_H
#define WEFT_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "weft/deferred.h"
#include "weft/reactor.h"
#include "weft/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_process weft_process;

/* How a child ended. Exactly one of exited/signaled is true once the child has been reaped
 * (neither before, or in the rare case where its status was lost: see process_exited). */
typedef struct weft_process_status {
  bool exited;   /* it called exit: code holds its exit code (0..255) */
  int code;
  bool signaled; /* a signal killed it: signo holds the signal, core whether it dumped core */
  int signo;
  bool core;
  int raw; /* the status word from waitpid, for WIFEXITED and friends */
} weft_process_status;

/* The Failure domain of processes that did not end normally (get_process_output/value): the code
 * is the number of the signal that killed the child. */
#define WEFT_PROCESS_FAILURE_DOMAIN "weft.process"

/* The callbacks (Twisted's ProcessProtocol), each with the user pointer. All optional. p is valid
 * from connection_made until process_ended returns. */
typedef struct weft_process_protocol {
  /* The child is started and its pipes are set up. */
  void (*connection_made)(weft_process *p, void *user);
  /* The child wrote to its stdout (fd 1) / stderr (fd 2). data is borrowed for the call. When
   * NULL, the bytes go to child_data_received instead. */
  void (*out_received)(weft_process *p, const void *data, size_t len, void *user);
  void (*err_received)(weft_process *p, const void *data, size_t len, void *user);
  /* The child wrote to another descriptor it writes into (see weft_child_fd). */
  void (*child_data_received)(weft_process *p, int child_fd, const void *data, size_t len, void *user);
  /* The pipe of child_fd is closed: the child closed its end (or exited), or we closed ours. */
  void (*child_connection_lost)(weft_process *p, int child_fd, void *user);
  /* The child is reaped: st says how it ended. Pipes may still be open (a grandchild may hold
   * them); weft_process_lose_connection closes them. */
  void (*process_exited)(weft_process *p, weft_process_status st, void *user);
  /* The child is reaped and every pipe is closed; the last call. p is freed when it returns. */
  void (*process_ended)(weft_process *p, weft_process_status st, void *user);
  void *user;
} weft_process_protocol;

/* What the child's stdin, stdout and stderr are. */
typedef enum weft_stdio_mode {
  WEFT_STDIO_PIPE = 0, /* a pipe to us, as a transport (the default) */
  WEFT_STDIO_INHERIT,  /* our own descriptor of the same number */
  WEFT_STDIO_NULL,     /* /dev/null */
} weft_stdio_mode;

/* An extra descriptor of the child (Twisted's childFDs). */
typedef enum weft_child_fd_kind {
  WEFT_CHILD_FD_READS,  /* a new pipe the child reads from; we write into its transport */
  WEFT_CHILD_FD_WRITES, /* a new pipe the child writes into; we get child_data_received */
  WEFT_CHILD_FD_PARENT, /* a copy of our descriptor parent_fd (which stays ours) */
} weft_child_fd_kind;

typedef struct weft_child_fd {
  int child_fd; /* 0..WEFT_PROCESS_MAX_CHILD_FD; 0, 1, 2 here override the stdio modes */
  weft_child_fd_kind kind;
  int parent_fd; /* for WEFT_CHILD_FD_PARENT */
} weft_child_fd;

#define WEFT_PROCESS_MAX_CHILD_FD 255
#define WEFT_PROCESS_MAX_EXTRA_FDS 16

typedef struct weft_process_options {
  weft_stdio_mode stdin_mode, stdout_mode, stderr_mode;
  /* Extra descriptors (at most WEFT_PROCESS_MAX_EXTRA_FDS, distinct child_fd); borrowed for the
   * call. Every other descriptor is closed in the child. */
  const weft_child_fd *child_fds;
  size_t n_child_fds;
  /* Run as this user / group (needs privilege; the supplementary groups become just gid). The
   * child is then started with fork + exec instead of posix_spawn. */
  bool set_uid, set_gid;
  uid_t uid;
  gid_t gid;
  /* Start the child in a new session (setsid): no controlling terminal, its own process group,
   * so weft_process_signal_group reaches its whole tree. */
  bool setsid;
  /* Reap by SIGCHLD even where pidfds exist (to exercise the fallback; not needed otherwise). */
  bool no_pidfd;
} weft_process_options;

/* Fills o with the defaults (pipes for stdin, stdout and stderr; nothing else). */
void weft_process_options_init(weft_process_options *o);

/* Starts argv[0] with arguments argv (NULL-terminated; argv[0] without a '/' is searched in our
 * $PATH), environment envp (NULL-terminated "K=V" strings; NULL: ours), in directory cwd (NULL:
 * ours). proto is copied; opts may be NULL for the defaults; argv, envp and opts are borrowed for
 * the call. On success *out is the process, connection_made has been called, and the other
 * callbacks follow on later turns. Returns 0, WEFT_EINVAL (empty argv, bad options), the error of
 * a failed exec (WEFT_ENOENT, WEFT_EACCES, ...) or of the setup (WEFT_EMFILE, WEFT_ENOMEM, ...);
 * then no callback runs and nothing is left running (in the rare case where the reactor cannot
 * watch a pipe once the child has started, the child is killed and reaped on later turns, and
 * counts as an open handle until then). */
int weft_spawn_process(weft_process **out, weft_reactor *r, const weft_process_protocol *proto,
                       const char *const argv[], const char *const envp[], const char *cwd,
                       const weft_process_options *opts);

/* The child's process id. It stays the child's (it cannot be reused) until process_exited. */
pid_t weft_process_pid(const weft_process *p);

/* The reactor the process runs on. */
weft_reactor *weft_process_reactor(const weft_process *p);

/* True once the child is reaped; *st (may be NULL) then says how it ended. */
bool weft_process_status_get(const weft_process *p, weft_process_status *st);

/* Sends signo to the child (Twisted's signalProcess). Returns 0, WEFT_ESTATE if it has already
 * been reaped (its pid may belong to someone else now), or kill's error (WEFT_EINVAL, WEFT_EPERM). */
int weft_process_signal(weft_process *p, int signo);

/* Sends signo to the child's process group: for a child started with setsid, its whole tree.
 * Returns as weft_process_signal, or WEFT_EINVAL if the child was not started with setsid. */
int weft_process_signal_group(weft_process *p, int signo);

/* The transport of the child's descriptor child_fd, if it is a pipe still open: fd 0 (stdin) and
 * WEFT_CHILD_FD_READS ones to write to, or a reading pipe to pause/resume. NULL otherwise. The
 * transport is valid until child_connection_lost for that fd returns. */
weft_transport *weft_process_transport(weft_process *p, int child_fd);

/* Writes to the child's stdin (weft_transport_write on its transport). Returns as
 * weft_transport_write, or WEFT_ECLOSED when stdin is not a pipe or is closed. */
int weft_process_write(weft_process *p, const void *data, size_t len);

/* Closes our end of the pipe of child_fd (Twisted's closeChildFD): a pipe we write to is closed
 * once what is queued is sent (the child then reads end of file); a pipe we read is closed now.
 * child_connection_lost follows. Returns 0, or WEFT_ECLOSED if there is no such open pipe. */
int weft_process_close_child_fd(weft_process *p, int child_fd);

/* close_child_fd(p, 0): the child reads end of file once what was written is sent. */
int weft_process_close_stdin(weft_process *p);

/* Closes every pipe (Twisted's loseConnection on a process); the child keeps running. */
void weft_process_lose_connection(weft_process *p);

/* ---- PID 1 (a container's entrypoint) ---- */

enum {
  /* Reap every child that ends, including orphans reparented to us; our own children's statuses
   * still go to their process objects. */
  WEFT_REAPER_ORPHANS = 1u,
  /* Forward SIGTERM and SIGINT to every live child this reactor started. While forwarding, the
   * two signals no longer end this program by themselves: watch them too
   * (weft_reactor_watch_signal) to shut down. */
  WEFT_REAPER_FORWARD_SIGNALS = 2u,
  /* Do any of this only if we are PID 1 (getpid() == 1); otherwise enable does nothing. */
  WEFT_REAPER_IF_PID1 = 4u,
  WEFT_REAPER_PID1 = WEFT_REAPER_ORPHANS | WEFT_REAPER_FORWARD_SIGNALS | WEFT_REAPER_IF_PID1,
};

/* Turns on PID-1 duties for r (a program's one reactor that starts children: waitpid(-1) would
 * take the children of another reactor in the same program as orphans). Reaped orphans are logged
 * at debug level (namespace "weft.process", fields pid and status). The reaper is an open handle
 * of r until weft_process_reaper_disable. Returns 0 (also when WEFT_REAPER_IF_PID1 made it do
 * nothing), WEFT_EALREADY if it is on already, WEFT_EINVAL for unknown flags, WEFT_ENOMEM. */
int weft_process_reaper_enable(weft_reactor *r, unsigned flags);

/* Turns PID-1 duties off again. Does nothing if they were not on. */
void weft_process_reaper_disable(weft_reactor *r);

/* The flags in force for r (0 when off). */
unsigned weft_process_reaper_flags(const weft_reactor *r);

/* ---- the common cases (twisted.internet.utils) ---- */

/* What weft_get_process_output fires with (a weft_ptr whose destroy frees it): the child's stdout
 * and stderr, each NUL-terminated (the NUL is not counted), and how it ended. */
typedef struct weft_process_output {
  char *data;
  size_t len;
  char *err;
  size_t err_len;
  weft_process_status status;
} weft_process_output;

/* Runs argv (as weft_spawn_process; opts NULL: stdin /dev/null, stdout and stderr pipes) and
 * returns a Deferred (one reference for the caller) that fires with a weft_process_output when
 * the child has ended, whatever its exit code (all of the output is kept in memory: for a child
 * that writes without end, use weft_spawn_process and a protocol). It fails with a WEFT_PROCESS_FAILURE_DOMAIN Failure
 * whose code is the signal if a signal killed the child (the output is the Failure's data), or
 * with a WEFT_FAILURE_DOMAIN Failure carrying spawn's error if it could not start (then it has
 * failed already). Cancelling it kills the child (SIGKILL) and closes the pipes; the process is
 * reaped and everything released on the following turns. Returns NULL only when out of memory. */
weft_deferred *weft_get_process_output(weft_reactor *r, const char *const argv[], const char *const envp[],
                                       const char *cwd, const weft_process_options *opts);

/* As weft_get_process_output, but fires with the exit code (weft_int) and discards the output
 * (opts NULL: stdin, stdout and stderr /dev/null). Fails and cancels in the same ways. */
weft_deferred *weft_get_process_value(weft_reactor *r, const char *const argv[], const char *const envp[],
                                      const char *cwd, const weft_process_options *opts);

#ifdef __cplusplus
}
#endif
#endif
