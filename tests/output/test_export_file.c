/*
 * test_export_file.c - the output directory check and gzip file writes:
 * bad directories (missing, a file, unwritable even for root), exact 0600
 * mode whatever the umask, name format, sanitized service names, content
 * round trip, replacement by rename, and no temporary file left behind, also
 * when a write fails half-way.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/clock.h"
#include "export/file.h"
#include "testutil.h"

/* Names of the entries of dir, joined by '\n', sorted by readdir order. */
static int count_entries(const char *dir, char *names, size_t cap) {
  DIR *d = opendir(dir);
  REQUIRE(d);
  int n = 0;
  names[0] = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    n++;
    strncat(names, e->d_name, cap - strlen(names) - 2);
    strcat(names, "\n");
  }
  closedir(d);
  return n;
}

/* gunzip of a whole file (malloc'ed), or NULL. */
static uint8_t *gunzip_file(const char *path, size_t *len) {
  gzFile f = gzopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 20, n = 0;
  uint8_t *buf = malloc(cap);
  int r;
  while ((r = gzread(f, buf + n, (unsigned)(cap - n))) > 0) {
    n += (size_t)r;
    if (n == cap) buf = realloc(buf, cap *= 2);
  }
  int err;
  gzerror(f, &err);
  gzclose(f);
  if (r < 0 || (err != Z_OK && err != Z_STREAM_END)) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

static int is_gzip(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  unsigned char m[2] = {0, 0};
  size_t n = fread(m, 1, 2, f);
  fclose(f);
  return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static void check_bad_dir(const char *dir, const char *reason) {
  inprof_status st = inprof__file_check_dir(dir);
  CHECKF(st == INPROF_ERR_OUTPUT, "%s (%s): status %d", dir, reason, (int)st);
  const char *err = inprof_last_error();
  CHECKF(strstr(err, "INPROF_OUTPUT_DIR") && strstr(err, dir),
         "%s: last error '%s' should name the variable and the path", reason, err);
  CHECKF(inprof__file_write(dir, "svc", 1, (const uint8_t *)"x", 1) == -1,
         "write into %s (%s) should fail", dir, reason);
}

int main(void) {
  signal(SIGXFSZ, SIG_IGN);
  char *dir = testutil_tmpdir("export");
  REQUIRE(dir);
  char path[4096], names[8192];

  /* Good directory: OK, and the check leaves nothing behind. */
  CHECK(inprof__file_check_dir(dir) == INPROF_OK);
  CHECK(count_entries(dir, names, sizeof names) == 0);

  /* Bad directories. */
  snprintf(path, sizeof path, "%s/missing", dir);
  check_bad_dir(path, "missing");
  snprintf(path, sizeof path, "%s/plainfile", dir);
  FILE *f = fopen(path, "w");
  REQUIRE(f);
  fclose(f);
  check_bad_dir(path, "a regular file");
  snprintf(path, sizeof path, "%s/plainfile/sub", dir);
  check_bad_dir(path, "under a regular file");
  check_bad_dir("/dev/null/x", "under a device");
  /* /proc refuses new files even to root. */
  check_bad_dir("/proc", "not writable");
  if (geteuid() != 0) {
    snprintf(path, sizeof path, "%s/ro", dir);
    REQUIRE(mkdir(path, 0500) == 0);
    check_bad_dir(path, "mode 0500");
    rmdir(path);
  }
  snprintf(path, sizeof path, "%s/plainfile", dir);
  unlink(path);
  CHECK(inprof__file_check_dir("") == INPROF_ERR_OUTPUT);

  /* A write: name, mode 0600 under an odd umask, exact content. */
  size_t len = 3u << 20;       /* several deflate chunks */
  uint8_t *data = malloc(len);
  REQUIRE(data);
  uint32_t x = 12345;
  for (size_t i = 0; i < len; i++) {
    x = x * 1103515245u + 12345u;
    data[i] = (i % 7 == 0) ? (uint8_t)(x >> 24) : (uint8_t)(i / 1000);
  }
  mode_t old = umask(0277);
  CHECK(inprof__file_write(dir, "my-service", 42, data, len) == 0);
  umask(old);
  snprintf(path, sizeof path, "%s/my-service-%ld-42.pprof.gz", dir, (long)getpid());
  struct stat st;
  CHECKF(stat(path, &st) == 0, "missing %s", path);
  CHECKF((st.st_mode & 07777) == 0600, "mode %o", (unsigned)(st.st_mode & 07777));
  CHECK(is_gzip(path));
  size_t got_len = 0;
  uint8_t *got = gunzip_file(path, &got_len);
  CHECK(got && got_len == len && memcmp(got, data, len) == 0);
  free(got);
  CHECKF(count_entries(dir, names, sizeof names) == 1, "entries:\n%s", names);

  /* Same name again: replaced by the new, complete content. */
  CHECK(inprof__file_write(dir, "my-service", 42, (const uint8_t *)"short", 5) == 0);
  got = gunzip_file(path, &got_len);
  CHECK(got && got_len == 5 && memcmp(got, "short", 5) == 0);
  free(got);
  CHECK(count_entries(dir, names, sizeof names) == 1);

  /* An empty profile is still a valid gzip file. */
  CHECK(inprof__file_write(dir, "empty", 1, NULL, 0) == 0);
  snprintf(path, sizeof path, "%s/empty-%ld-1.pprof.gz", dir, (long)getpid());
  got = gunzip_file(path, &got_len);
  CHECK(got && got_len == 0);
  free(got);
  unlink(path);

  /* Service names that must not escape the directory or hide the file. */
  static const char *const svc[][2] = {
      {"../../etc/evil", "_._.._etc_evil"},
      {".hidden", "_hidden"},
      {"a b/c", "a_b_c"},
      {"", "inprof"},
      {"ok.name_1+x", "ok.name_1+x"},
  };
  for (size_t i = 0; i < sizeof svc / sizeof svc[0]; i++) {
    CHECK(inprof__file_write(dir, svc[i][0], 7, (const uint8_t *)"p", 1) == 0);
    snprintf(path, sizeof path, "%s/%s-%ld-7.pprof.gz", dir, svc[i][1], (long)getpid());
    CHECKF(access(path, F_OK) == 0, "service '%s': missing %s", svc[i][0], path);
    unlink(path);
  }
  CHECK(inprof__file_write(dir, NULL, 8, (const uint8_t *)"p", 1) == 0);
  snprintf(path, sizeof path, "%s/inprof-%ld-8.pprof.gz", dir, (long)getpid());
  CHECK(access(path, F_OK) == 0);
  unlink(path);
  CHECKF(count_entries(dir, names, sizeof names) == 1, "entries:\n%s", names);

  /* A write that fails half-way (file size limit): -1, no final file, no
   * temporary file left. */
  struct rlimit rl_old, rl = {64 * 1024, 64 * 1024};
  getrlimit(RLIMIT_FSIZE, &rl_old);
  rl.rlim_max = rl_old.rlim_max;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0);
  CHECK(inprof__file_write(dir, "toobig", 9, data, len) == -1);
  setrlimit(RLIMIT_FSIZE, &rl_old);
  snprintf(path, sizeof path, "%s/toobig-%ld-9.pprof.gz", dir, (long)getpid());
  CHECK(access(path, F_OK) != 0);
  CHECKF(count_entries(dir, names, sizeof names) == 1, "entries:\n%s", names);

  free(data);
  free(testutil_capture("rm -rf '%s'", dir));
  free(dir);
  return testutil_done("test_export_file");
}
