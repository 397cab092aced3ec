/*
 * export/http_queue.c - owns the upload thread ("inprof-upload") and its
 * bounded queue. Host threads never run an upload: the collector hands over
 * a copy of each pprof (inprof__http_submit never blocks; when the queue is
 * full the oldest profile is dropped) and the upload thread does the rest
 * through export/http_transfer.c. Stop uploads what is queued and returns
 * by its deadline; a transfer still running then is aborted by the thread
 * itself, which frees what it holds. Stop reports whether anything queued
 * was given up at the deadline, so inprof_stop can say so (TIMEOUT).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/defaults.h"
#include "base/diag.h"
#include "base/sync.h"
#include "export/http.h"
#include "export/http_transfer.h"

/* Queue bounds: a few periods' worth; older profiles are less useful. */
#define QUEUE_CAP 4
#define QUEUE_MAX_BYTES ((size_t)64 << 20)
/* How close to the abort deadline a failed upload counts as cut by it. */
#define ABORT_SLACK_MS 20

typedef struct job {
  uint8_t *pprof;
  size_t len;
  inprof__upload_meta meta;
} job;

typedef struct ctx {
  pthread_mutex_t lock;
  pthread_cond_t cond; /* CLOCK_MONOTONIC: queue changes, stop, done */
  job q[QUEUE_CAP];
  unsigned qhead, qlen;
  size_t qbytes;
  int stopping, done;
  unsigned abandoned;           /* profiles given up at the stop deadline */
  uint64_t abort_at_ns;         /* MONOTONIC; 0 until stop */
  _Atomic int refs;             /* stop's and the thread's */
  pthread_t thread;
  inprof__http_conn *conn;
} ctx;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static ctx *g_ctx;

static void ctx_free(ctx *c) {
  for (unsigned i = 0; i < c->qlen; i++) free(c->q[(c->qhead + i) % QUEUE_CAP].pprof);
  inprof__http_conn_free(c->conn);
  inprof__sync_destroy(&c->lock, &c->cond, NULL);
  free(c);
}

static void ctx_release(ctx *c) {
  if (atomic_fetch_sub(&c->refs, 1) == 1) ctx_free(c);
}

static void *upload_main(void *arg);

INPROF__HIDDEN inprof_status inprof__http_start(const inprof__settings *s) {
  pthread_mutex_lock(&g_lock);
  int running = g_ctx != NULL;
  pthread_mutex_unlock(&g_lock);
  if (running) return INPROF_OK;

  ctx *c = calloc(1, sizeof *c);
  if (!c) return inprof__fail(INPROF_ERR_NO_MEMORY, "out of memory starting the uploader");
  if (inprof__sync_init(&c->lock, &c->cond, NULL) != 0) {
    free(c);
    return inprof__fail(INPROF_ERR_SYSTEM, "cannot create the uploader's locks");
  }
  atomic_init(&c->refs, 2);

  inprof_status st;
  c->conn = inprof__http_conn_new(s, &st);
  if (!c->conn) goto fail;

  /* The uploader takes none of the host's signals (SIGPIPE included). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&c->thread, NULL, upload_main, c);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    st = inprof__fail(INPROF_ERR_SYSTEM, "cannot start the upload thread: %s", strerror(rc));
    goto fail;
  }
  pthread_mutex_lock(&g_lock);
  g_ctx = c;
  pthread_mutex_unlock(&g_lock);
  const char *unix_path = inprof__http_conn_unix_path(c->conn);
  inprof__log(INPROF__LOG_INFO, "uploading profiles to %s%s%s",
              inprof__http_conn_url(c->conn), unix_path ? " via unix socket " : "",
              unix_path ? unix_path : "");
  return INPROF_OK;
fail:
  ctx_free(c);
  return st;
}

INPROF__HIDDEN char *inprof__http_current_url(void) {
  pthread_mutex_lock(&g_lock);
  char *u = g_ctx ? strdup(inprof__http_conn_url(g_ctx->conn)) : NULL;
  pthread_mutex_unlock(&g_lock);
  return u;
}

INPROF__HIDDEN void inprof__http_submit(const uint8_t *pprof, size_t len,
                                        const inprof__upload_meta *meta) {
  if (!pprof || !len || !meta) return;
  pthread_mutex_lock(&g_lock);
  ctx *c = g_ctx;
  if (c) atomic_fetch_add(&c->refs, 1);
  pthread_mutex_unlock(&g_lock);
  if (!c) return;
  uint8_t *copy = len <= QUEUE_MAX_BYTES ? malloc(len) : NULL;
  if (!copy) {
    INPROF__COUNT(uploads_dropped, 1);
    inprof__log(INPROF__LOG_WARN, "profile of %zu bytes not queued for upload", len);
    ctx_release(c);
    return;
  }
  memcpy(copy, pprof, len);
  uint64_t dropped = 0;
  pthread_mutex_lock(&c->lock);
  while (c->qlen && (c->qlen == QUEUE_CAP || c->qbytes + len > QUEUE_MAX_BYTES)) {
    job *old = &c->q[c->qhead];
    c->qbytes -= old->len;
    free(old->pprof);
    c->qhead = (c->qhead + 1) % QUEUE_CAP;
    c->qlen--;
    dropped++;
  }
  job *j = &c->q[(c->qhead + c->qlen) % QUEUE_CAP];
  j->pprof = copy;
  j->len = len;
  j->meta = *meta;
  c->qlen++;
  c->qbytes += len;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
  if (dropped) {
    INPROF__COUNT(uploads_dropped, dropped);
    inprof__log(INPROF__LOG_WARN, "upload queue full: dropped the oldest profile");
  }
  ctx_release(c);
}

INPROF__HIDDEN void inprof__http_atfork_child(void) {
  /* The upload thread does not exist in the child and g_lock may be held by
   * a thread that does not either: forget the queue (its memory is left
   * alone) so that a start in the child creates its own. */
  pthread_mutex_init(&g_lock, NULL);
  g_ctx = NULL;
}

INPROF__HIDDEN int inprof__http_stop(uint64_t deadline_ns) {
  pthread_mutex_lock(&g_lock);
  ctx *c = g_ctx;
  g_ctx = NULL;
  pthread_mutex_unlock(&g_lock);
  if (!c) return 0;

  pthread_mutex_lock(&c->lock);
  c->stopping = 1;
  /* The thread gives up a little early so that stop can still join it. */
  uint64_t now = inprof__now_ns(CLOCK_MONOTONIC), abort_at = deadline_ns;
  if (deadline_ns > now + 200 * INPROF__NS_PER_MS) abort_at -= 30 * INPROF__NS_PER_MS;
  c->abort_at_ns = abort_at;
  inprof__http_conn_abort_at(c->conn, abort_at);
  pthread_cond_broadcast(&c->cond);
  while (!c->done) {
    if (inprof__sync_wait_until(&c->cond, &c->lock, deadline_ns) == ETIMEDOUT) break;
  }
  int done = c->done;
  int abandoned = !done || c->abandoned > 0;
  pthread_mutex_unlock(&c->lock);
  if (done) {
    pthread_join(c->thread, NULL);
  } else {
    /* It aborts its transfer within a poll interval and frees what it holds. */
    pthread_detach(c->thread);
    inprof__log(INPROF__LOG_WARN, "stop: upload still in progress at the deadline, abandoned");
  }
  ctx_release(c);
  return abandoned;
}

static void *upload_main(void *arg) {
  ctx *c = arg;
  inprof__in_profiler = 1;
  pthread_setname_np(pthread_self(), INPROF__THREAD_PREFIX "upload");
  inprof__http_session *session = inprof__http_session_new();

  pthread_mutex_lock(&c->lock);
  for (;;) {
    while (!c->qlen && !c->stopping) pthread_cond_wait(&c->cond, &c->lock);
    if (!c->qlen) break;
    job j = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % QUEUE_CAP;
    c->qlen--;
    c->qbytes -= j.len;
    pthread_mutex_unlock(&c->lock);
    int skipped = 0, failed = 0;
    uint64_t ended = 0;
    if (!session || inprof__http_conn_aborted(c->conn)) {
      INPROF__COUNT(uploads_dropped, 1);
      skipped = session != NULL;
    } else {
      uint64_t ok_before = atomic_load(&inprof__stats.uploads_ok);
      inprof__http_upload(c->conn, session, j.pprof, j.len, &j.meta);
      failed = atomic_load(&inprof__stats.uploads_ok) == ok_before;
      ended = inprof__now_ns(CLOCK_MONOTONIC);
    }
    free(j.pprof);
    pthread_mutex_lock(&c->lock);
    /* A failure that ended at the abort deadline was cut by it (the
     * transfer's own timeout is clipped to it, and may fire a millisecond
     * early); one that ended well before it was the agent's answer. */
    if (skipped || (failed && c->abort_at_ns &&
                    ended + ABORT_SLACK_MS * INPROF__NS_PER_MS >= c->abort_at_ns))
      c->abandoned++;
  }
  c->done = 1;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);

  inprof__http_session_free(session);
  ctx_release(c);
  return NULL;
}
