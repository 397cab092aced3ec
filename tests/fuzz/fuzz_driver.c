/*
 * fuzz_driver.c - runs a libFuzzer harness (LLVMFuzzerTestOneInput) without
 * libFuzzer, so that every build and every compiler runs it under ctest:
 *
 *   fuzz_<name> CORPUS_DIR [MUTATIONS]
 *
 * feeds each file of CORPUS_DIR (sorted, so runs are reproducible), then
 * MUTATIONS pseudo-random mutations of each, from a fixed seed: the same
 * inputs in every run. A harness reports a bad result by aborting, like
 * under libFuzzer. On a crash, the input being run is in
 * $FUZZ_CRASH_DIR/crash-<name> (default: the current directory) so that it
 * can be replayed with `fuzz_<name> DIR_WITH_THAT_FILE 0`.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* Tokens the mutator splices in (NULL-terminated); a harness may define its own. */
const char *const *fuzz_tokens(void) __attribute__((weak));

#define FUZZ_MAX_INPUT (64 * 1024)

static uint64_t rng_state;
static uint64_t rnd(void) {
  uint64_t x = rng_state;
  x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
  rng_state = x;
  return x * 0x2545F4914F6CDD1Dull;
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static const char *const default_tokens[] = {
    "0", "1", "-", "+", " ", "\t", "\n", "=", ".", "/", ":", "0x", "1e3", "inf", "nan",
    "18446744073709551616", "4294967296", "99999999999999999999", "\xff", NULL};

static const char *const *tokens(void) { return fuzz_tokens ? fuzz_tokens() : default_tokens; }

static size_t ntokens(void) {
  size_t n = 0;
  while (tokens()[n]) n++;
  return n;
}

/* One of a few classic mutations of buf[0..len) in place; returns the new
 * length (at most FUZZ_MAX_INPUT). */
static size_t mutate_once(uint8_t *buf, size_t len, const uint8_t *other, size_t olen) {
  switch (below(8)) {
    case 0: /* flip a bit */
      if (len) buf[below(len)] ^= (uint8_t)(1u << below(8));
      return len;
    case 1: /* set a byte, biased to ASCII */
      if (len) buf[below(len)] = (uint8_t)(below(4) ? 0x20 + below(95) : below(256));
      return len;
    case 2: { /* erase a range */
      if (!len) return len;
      size_t at = below(len), n = 1 + below(len - at < 16 ? len - at : 16);
      memmove(buf + at, buf + at + n, len - at - n);
      return len - n;
    }
    case 3: { /* insert a byte */
      if (len >= FUZZ_MAX_INPUT) return len;
      size_t at = below(len + 1);
      memmove(buf + at + 1, buf + at, len - at);
      buf[at] = (uint8_t)(below(2) ? '0' + below(10) : below(256));
      return len + 1;
    }
    case 4:
    case 5: { /* insert or overwrite with a token */
      const char *t = tokens()[below(ntokens())];
      size_t n = strlen(t), at = below(len + 1);
      if (len + n > FUZZ_MAX_INPUT) return len;
      if (below(2) && at + n <= len) {
        memcpy(buf + at, t, n);
        return len;
      }
      memmove(buf + at + n, buf + at, len - at);
      memcpy(buf + at, t, n);
      return len + n;
    }
    case 6: { /* duplicate a range */
      if (!len) return len;
      size_t from = below(len), n = 1 + below(len - from < 64 ? len - from : 64);
      if (len + n > FUZZ_MAX_INPUT) return len;
      size_t at = below(len + 1);
      uint8_t tmp[64];
      memcpy(tmp, buf + from, n);
      memmove(buf + at + n, buf + at, len - at);
      memcpy(buf + at, tmp, n);
      return len + n;
    }
    default: { /* splice in a piece of another seed */
      if (!olen) return len;
      size_t from = below(olen), n = 1 + below(olen - from < 256 ? olen - from : 256);
      if (len + n > FUZZ_MAX_INPUT) return len;
      size_t at = below(len + 1);
      memmove(buf + at + n, buf + at, len - at);
      memcpy(buf + at, other + from, n);
      return len + n;
    }
  }
}

typedef struct seed {
  char *name;
  uint8_t *data;
  size_t len;
} seed;

static const uint8_t *current;
static size_t current_len;
static const char *crash_path;

/* On a crash, leave the input behind, then die as before. */
static void save_input(int sig) {
  FILE *f = crash_path ? fopen(crash_path, "wb") : NULL;
  if (f) {
    fwrite(current, 1, current_len, f);
    fclose(f);
    fprintf(stderr, "fuzz driver: input saved to %s\n", crash_path);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

static void run(const uint8_t *data, size_t len) {
  current = data, current_len = len;
  LLVMFuzzerTestOneInput(data, len);
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const seed *)a)->name, ((const seed *)b)->name);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS]\n", argv[0]);
    return 2;
  }
  long mutations = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);

  DIR *d = opendir(argv[1]);
  if (!d) {
    perror(argv[1]);
    return 2;
  }
  seed *seeds = NULL;
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
    size_t len = buf ? fread(buf, 1, FUZZ_MAX_INPUT, f) : 0;
    fclose(f);
    if (!buf) continue;
    seed *grown = realloc(seeds, (n + 1) * sizeof *seeds);
    if (!grown) {
      free(buf);
      break;
    }
    seeds = grown;
    seeds[n].name = strdup(e->d_name);
    seeds[n].data = buf;
    seeds[n].len = len;
    n++;
  }
  closedir(d);
  if (n == 0) {
    fprintf(stderr, "%s: no seed files\n", argv[1]);
    return 2;
  }
  qsort(seeds, n, sizeof *seeds, by_name);

  static char crash[4096];
  const char *dir = getenv("FUZZ_CRASH_DIR");
  const char *base = strrchr(argv[0], '/');
  snprintf(crash, sizeof crash, "%s/crash-%s", dir && *dir ? dir : ".", base ? base + 1 : argv[0]);
  crash_path = crash;
  signal(SIGABRT, save_input);
  signal(SIGSEGV, save_input);
  signal(SIGBUS, save_input);
  signal(SIGFPE, save_input);

  uint8_t *buf = malloc(FUZZ_MAX_INPUT);
  if (!buf) return 2;
  unsigned long runs = 0;
  for (size_t i = 0; i < n; i++) {
    run(seeds[i].data, seeds[i].len);
    runs++;
    rng_state = 0x9E3779B97F4A7C15ull ^ (0x100000001B3ull * (i + 1));
    for (long m = 0; m < mutations; m++) {
      /* Mostly one to four mutations of the seed, sometimes a stack on the last input. */
      size_t len;
      if (m == 0 || below(4)) {
        memcpy(buf, seeds[i].data, seeds[i].len);
        len = seeds[i].len;
      } else {
        len = current_len;
        if (current != buf) memcpy(buf, current, len);
      }
      const seed *other = &seeds[below(n)];
      for (size_t k = 1 + below(4); k; k--) len = mutate_once(buf, len, other->data, other->len);
      run(buf, len);
      runs++;
    }
  }
  printf("%s: %zu seeds, %lu inputs, no failure\n", base ? base + 1 : argv[0], n, runs);
  for (size_t i = 0; i < n; i++) free(seeds[i].name), free(seeds[i].data);
  free(seeds);
  free(buf);
  return 0;
}
