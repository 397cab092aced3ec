/*
 * inprof_run.c - the inprof-run wrapper: turns its options into the
 * environment variables the library reads, puts libinprof-preload.so in
 * LD_PRELOAD and execs the command in its own process (nothing of inprof-run
 * stays around). It refuses, before exec, targets the loader would run
 * without the preload (static, setuid/setgid or file capabilities, another
 * architecture) so that "no profile" is never silent.
 *
 * Exit status (shell conventions): 2 usage or refusal, 127 command not
 * found, 126 command not executable; otherwise the command's own status.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "inprof.h"

#ifndef INPROF_RUN_BIN_TO_LIB
#define INPROF_RUN_BIN_TO_LIB "../lib"
#endif
#ifndef INPROF_RUN_VERSION
#define INPROF_RUN_VERSION "unknown"
#endif
#define PRELOAD_NAME "libinprof-preload.so"

#if defined(__x86_64__)
#define RUN_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define RUN_MACHINE EM_AARCH64
#endif

/* Options that set one environment variable, declared once. */
typedef struct opt_env {
  const char *name;   /* without the leading "--" */
  const char *var;
  const char *meta;
  const char *help;
} opt_env;

static const opt_env env_opts[] = {
    {"service", "DD_SERVICE", "NAME", "service name (default: each program's name)"},
    {"env", "DD_ENV", "ENV", "environment tag, e.g. prod"},
    {"version", "DD_VERSION", "VERSION", "version tag of the profiled program (see below)"},
    {"app-version", "DD_VERSION", "VERSION", "same as --version VERSION"},
    {"tags", "DD_TAGS", "K:V,...", "extra tags"},
    {"output-dir", "INPROF_OUTPUT_DIR", "DIR", "write pprof files to DIR (made absolute)"},
    {"cpu-hz", "INPROF_CPU_HZ", "HZ", "CPU samples per second per thread (0: no CPU)"},
    {"heap-sample-bytes", "INPROF_HEAP_SAMPLE_BYTES", "BYTES",
     "mean bytes between heap samples (0: no heap)"},
    {"upload-period", "DD_PROFILING_UPLOAD_PERIOD", "SECONDS", "seconds between profiles"},
    {"agent-url", "DD_TRACE_AGENT_URL", "URL", "agent, http://host:port or unix:///path"},
};
#define N_ENV_OPTS (sizeof env_opts / sizeof env_opts[0])

static void usage(FILE *f) {
  fprintf(f,
          "usage: inprof-run [options] [--] command [args...]\n"
          "\n"
          "Runs command with inprof's CPU and heap profiler loaded (LD_PRELOAD of\n"
          PRELOAD_NAME "); no change to the program is needed. Every option\n"
          "sets the environment variable shown, which works as well on its own.\n"
          "\n");
  for (size_t i = 0; i < N_ENV_OPTS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s %s", env_opts[i].name, env_opts[i].meta);
    fprintf(f, "  %-32s %s (%s)\n", left, env_opts[i].help, env_opts[i].var);
  }
  fprintf(f,
          "  %-32s profile only this process, not the programs it execs\n"
          "  %-32s (INPROF_FOLLOW_EXEC=0)\n"
          "  %-32s run a static or setuid command unprofiled instead of refusing\n"
          "  %-32s print inprof-run's version\n"
          "  %-32s this help\n"
          "\n"
          "Options also take the form --name=value. --version prints inprof-run's\n"
          "version when nothing follows it or '--' does; otherwise its argument is\n"
          "the program's version (DD_VERSION): 'inprof-run --version 1.2 app'.\n"
          "\n"
          "Exit status: the command's; 2 for a usage error or a refused command,\n"
          "127 if the command is not found, 126 if it cannot be executed.\n"
          "INPROF_PRELOAD_LIB overrides where " PRELOAD_NAME " is found.\n",
          "--no-follow", "", "--allow-unprofiled", "-V", "-h, --help");
}

static _Noreturn void usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "inprof-run: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n");
  usage(stderr);
  exit(2);
}

static const opt_env *find_env_opt(const char *name, size_t len) {
  for (size_t i = 0; i < N_ENV_OPTS; i++)
    if (strlen(env_opts[i].name) == len && strncmp(env_opts[i].name, name, len) == 0)
      return &env_opts[i];
  return NULL;
}

/* The preload library: INPROF_PRELOAD_LIB, else <our dir>/<bin-to-lib>/, else
 * our own directory (the build tree keeps both side by side). */
static char *find_preload(void) {
  const char *over = getenv("INPROF_PRELOAD_LIB");
  static char path[PATH_MAX];
  if (over && *over) {
    if (!realpath(over, path)) {
      fprintf(stderr, "inprof-run: INPROF_PRELOAD_LIB=%s: %s\n", over, strerror(errno));
      return NULL;
    }
    return path;
  }
  char self[PATH_MAX];
  if (!realpath("/proc/self/exe", self)) {
    fprintf(stderr, "inprof-run: cannot find my own path: %s\n", strerror(errno));
    return NULL;
  }
  char *slash = strrchr(self, '/');
  *slash = 0;
  const char *dirs[] = {INPROF_RUN_BIN_TO_LIB, "."};
  for (size_t i = 0; i < 2; i++) {
    char cand[PATH_MAX * 2];
    snprintf(cand, sizeof cand, "%s/%s/" PRELOAD_NAME, self, dirs[i]);
    if (access(cand, R_OK) == 0 && realpath(cand, path)) return path;
  }
  fprintf(stderr, "inprof-run: cannot find " PRELOAD_NAME " in %s/%s or %s; "
                  "set INPROF_PRELOAD_LIB\n", self, INPROF_RUN_BIN_TO_LIB, self);
  return NULL;
}

/* Resolves command like execvp: a name with a slash as is, else along PATH.
 * Returns 0, 127 (not found) or 126 (found but not executable). */
static int resolve(const char *cmd, char *out, size_t cap) {
  if (strchr(cmd, '/')) {
    snprintf(out, cap, "%s", cmd);
    if (access(out, F_OK) != 0) return 127;
    struct stat st;
    if (stat(out, &st) != 0 || S_ISDIR(st.st_mode) || access(out, X_OK) != 0) return 126;
    return 0;
  }
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/bin:/usr/bin";
  int found_noexec = 0;
  for (const char *p = path;;) {
    const char *e = strchr(p, ':');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    snprintf(out, cap, "%.*s%s%s", (int)n, p, n ? "/" : "", cmd);
    struct stat st;
    if (stat(out, &st) == 0 && !S_ISDIR(st.st_mode)) {
      if (access(out, X_OK) == 0) return 0;
      found_noexec = 1;
    }
    if (!e) break;
    p = e + 1;
  }
  return found_noexec ? 126 : 127;
}

/*
 * Why the loader would not preload us into this file, or NULL. Only ELF
 * files are judged; scripts are run by an interpreter that gets the preload.
 */
static const char *why_unprofilable(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
    return "it is setuid or setgid: the loader ignores LD_PRELOAD for it";
  if (getxattr(path, "security.capability", NULL, 0) > 0)
    return "it has file capabilities: the loader ignores LD_PRELOAD for it";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL; /* exec will say */
  Elf64_Ehdr eh;
  const char *why = NULL;
  if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
      memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
    goto out;
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
    why = "it is a 32-bit program; " PRELOAD_NAME " is 64-bit";
    goto out;
  }
#ifdef RUN_MACHINE
  if (eh.e_machine != RUN_MACHINE) {
    why = "it is built for another architecture";
    goto out;
  }
#endif
  int interp = 0;
  for (unsigned i = 0; i < eh.e_phnum && i < 4096; i++) {
    Elf64_Phdr ph;
    if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
        (ssize_t)sizeof ph)
      break;
    if (ph.p_type == PT_INTERP) interp = 1;
  }
  /* No program interpreter: no dynamic loader runs, so nothing reads
   * LD_PRELOAD (static and static-pie programs alike). */
  if (!interp) why = "it is statically linked: there is no dynamic loader to preload into it";
out:
  close(fd);
  return why;
}

/* Prepends lib to LD_PRELOAD unless it is already there. */
static void add_preload(const char *lib) {
  const char *old = getenv("LD_PRELOAD");
  if (old && *old) {
    size_t ll = strlen(lib);
    for (const char *p = old; (p = strstr(p, lib)); p += ll)
      if ((p == old || p[-1] == ':' || p[-1] == ' ') &&
          (p[ll] == 0 || p[ll] == ':' || p[ll] == ' '))
        return;
    size_t n = strlen(old) + ll + 2;
    char *v = malloc(n);
    if (!v) { perror("inprof-run"); exit(2); }
    snprintf(v, n, "%s:%s", lib, old);
    setenv("LD_PRELOAD", v, 1);
    free(v);
  } else {
    setenv("LD_PRELOAD", lib, 1);
  }
}

int main(int argc, char **argv) {
  int allow_unprofiled = 0, i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (a[0] != '-' || a[1] == 0) break; /* the command */
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); return 0; }
    if (strcmp(a, "-V") == 0 ||
        (strcmp(a, "--version") == 0 && (i + 1 == argc || strcmp(argv[i + 1], "--") == 0))) {
      printf("inprof-run %s (libinprof %d.%d.%d)\n", INPROF_RUN_VERSION,
             INPROF_VERSION_MAJOR, INPROF_VERSION_MINOR, INPROF_VERSION_PATCH);
      return 0;
    }
    if (strcmp(a, "--no-follow") == 0) { setenv("INPROF_FOLLOW_EXEC", "0", 1); continue; }
    if (strcmp(a, "--allow-unprofiled") == 0) { allow_unprofiled = 1; continue; }
    if (a[1] != '-') usage_error("unknown option %s", a);
    const char *name = a + 2, *eq = strchr(name, '=');
    const opt_env *o = find_env_opt(name, eq ? (size_t)(eq - name) : strlen(name));
    if (!o) usage_error("unknown option %s", a);
    const char *val = eq ? eq + 1 : NULL;
    if (!val) {
      if (i + 1 >= argc) usage_error("option %s needs a value", a);
      val = argv[++i];
    }
    if (strcmp(o->var, "INPROF_OUTPUT_DIR") == 0) {
      /* Absolute, so a program that changes directory still finds it. */
      char abs[PATH_MAX];
      if (!realpath(val, abs)) {
        fprintf(stderr, "inprof-run: --output-dir %s: %s\n", val, strerror(errno));
        return 2;
      }
      setenv(o->var, abs, 1);
    } else {
      setenv(o->var, val, 1);
    }
  }
  if (i >= argc) usage_error("%s", "no command given");

  /* The library's own parser judges every setting, ours and the caller's. */
  inprof_config cfg;
  inprof_config_init(&cfg);
  if (inprof_config_from_env(&cfg) != INPROF_OK) {
    fprintf(stderr, "inprof-run: %s\n", inprof_last_error());
    return 2;
  }

  char path[PATH_MAX];
  int rc = resolve(argv[i], path, sizeof path);
  if (rc == 127) {
    fprintf(stderr, "inprof-run: %s: command not found\n", argv[i]);
    return 127;
  }
  if (rc == 126) {
    fprintf(stderr, "inprof-run: %s: permission denied\n", argv[i]);
    return 126;
  }
  const char *why = why_unprofilable(path);
  if (why && !allow_unprofiled) {
    fprintf(stderr, "inprof-run: cannot profile %s: %s.\n"
                    "inprof-run: nothing was run; pass --allow-unprofiled to run it "
                    "without profiling\n", path, why);
    return 2;
  }
  if (why) {
    fprintf(stderr, "inprof-run: running %s unprofiled: %s\n", path, why);
  } else {
    char *lib = find_preload();
    if (!lib) return 2;
    add_preload(lib);
  }
  execv(path, argv + i);
  int e = errno;
  fprintf(stderr, "inprof-run: %s: %s\n", path, strerror(e));
  return e == ENOENT ? 127 : 126;
}
