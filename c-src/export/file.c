/*
 * export/file.c - pprof files on local disk: <dir>/<service>-<pid>-<seq>.pprof.gz
 *
 * Each profile is gzip-compressed (zlib's gzip wrapper, streamed in chunks)
 * into a hidden temporary file in the same directory, created 0600, and
 * renamed over its final name only once it is complete, so a reader never
 * sees a partial profile and a crash leaves at most a dot-file behind.
 * The service name comes from the environment; anything but [A-Za-z0-9._+-]
 * becomes '_' (and so does a leading '.') so it can never leave the directory
 * or hide the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/diag.h"
#include "export/file.h"

#define SERVICE_MAX 100

INPROF__HIDDEN inprof_status inprof__file_check_dir(const char *dir) {
  struct stat st;
  if (!dir || !*dir)
    return inprof__fail(INPROF_ERR_OUTPUT, "INPROF_OUTPUT_DIR is empty");
  if (stat(dir, &st) != 0)
    return inprof__fail(INPROF_ERR_OUTPUT, "INPROF_OUTPUT_DIR=%s: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return inprof__fail(INPROF_ERR_OUTPUT, "INPROF_OUTPUT_DIR=%s: not a directory", dir);
  /* access() would not see read-only mounts' subtleties or ACLs the same
   * way the real write does: try the real thing. */
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "%s/.inprof-check-XXXXXX", dir);
  if (n < 0 || (size_t)n >= sizeof path)
    return inprof__fail(INPROF_ERR_OUTPUT, "INPROF_OUTPUT_DIR=%s: path too long", dir);
  int fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0)
    return inprof__fail(INPROF_ERR_OUTPUT, "INPROF_OUTPUT_DIR=%s: not writable: %s", dir,
                        strerror(errno));
  close(fd);
  unlink(path);
  return INPROF_OK;
}

static void sanitize_service(const char *in, char *out, size_t cap) {
  size_t n = 0;
  for (const char *p = in ? in : ""; *p && n + 1 < cap; p++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '+' ||
             (c == '.' && n > 0);
    out[n++] = ok ? c : '_';
  }
  if (n == 0) {
    snprintf(out, cap, "inprof");
    return;
  }
  out[n] = 0;
}

/* Writes all of buf, through short writes and EINTR. */
static int write_all(int fd, const uint8_t *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (w == 0) {
      errno = EIO;
      return -1;
    }
    buf += w;
    len -= (size_t)w;
  }
  return 0;
}

/* gzip(data) -> fd. Returns 0, or -1 with *why set. */
static int gzip_to_fd(int fd, const uint8_t *data, size_t len, const char **why) {
  z_stream z;
  memset(&z, 0, sizeof z);
  /* 15 window bits + 16: a gzip header and trailer instead of zlib's. */
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    *why = "deflateInit2 failed";
    return -1;
  }
  uint8_t chunk[16384];
  int rc = 0;
  const uint8_t *p = data;
  size_t left = len;
  int flush;
  do {
    /* avail_in is 32-bit: feed large profiles in pieces. */
    uInt in = left > (1u << 30) ? (1u << 30) : (uInt)left;
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = in;
    p += in;
    left -= in;
    flush = left ? Z_NO_FLUSH : Z_FINISH;
    do {
      z.next_out = chunk;
      z.avail_out = sizeof chunk;
      int zr = deflate(&z, flush);
      if (zr == Z_STREAM_ERROR) {
        *why = "deflate failed";
        rc = -1;
        break;
      }
      if (write_all(fd, chunk, sizeof chunk - z.avail_out) != 0) {
        *why = strerror(errno);
        rc = -1;
        break;
      }
    } while (z.avail_out == 0);
  } while (rc == 0 && flush != Z_FINISH);
  deflateEnd(&z);
  return rc;
}

INPROF__HIDDEN int inprof__file_write(const char *dir, const char *service, uint64_t seq,
                       const uint8_t *pprof, size_t len) {
  if (!dir || (!pprof && len)) {
    inprof__log(INPROF__LOG_ERROR, "file export: no directory or profile");
    return -1;
  }
  char svc[SERVICE_MAX + 1];
  sanitize_service(service, svc, sizeof svc);
  char name[SERVICE_MAX + 64];
  snprintf(name, sizeof name, "%s-%ld-%llu.pprof.gz", svc, (long)getpid(),
           (unsigned long long)seq);
  char final[PATH_MAX], tmp[PATH_MAX];
  int n1 = snprintf(final, sizeof final, "%s/%s", dir, name);
  int n2 = snprintf(tmp, sizeof tmp, "%s/.%s.tmp-XXXXXX", dir, name);
  if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof final || (size_t)n2 >= sizeof tmp) {
    inprof__log(INPROF__LOG_ERROR, "file export: path too long in %s", dir);
    return -1;
  }
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    inprof__log(INPROF__LOG_ERROR, "file export: cannot create a file in %s: %s", dir,
                strerror(errno));
    return -1;
  }
  const char *why = NULL;
  /* mkstemp's mode is 0600 minus the umask: make it exactly 0600. */
  if (fchmod(fd, 0600) != 0) why = strerror(errno);
  if (!why) gzip_to_fd(fd, pprof, len, &why);
  if (close(fd) != 0 && !why) why = strerror(errno);
  if (!why && rename(tmp, final) != 0) why = strerror(errno);
  if (why) {
    inprof__log(INPROF__LOG_ERROR, "file export: writing %s failed: %s", final, why);
    unlink(tmp);
    return -1;
  }
  inprof__log(INPROF__LOG_INFO, "wrote %s (%zu bytes of pprof)", final, len);
  return 0;
}
