/* test_http_unit.c - c-src/export/ without a server: configuration errors,
 * destinations, event.json pieces (timestamps, runtime-id, container id). */
#define INPROF_TEST_INTERNAL
#include "test_http_util.h"

static void expect_invalid(inprof__settings s, const char *names, const char *not_in) {
  inprof_status st = inprof__http_start(&s);
  CHECKF(st == INPROF_ERR_INVALID, "status %d for %s", st, names);
  const char *err = inprof_last_error();
  CHECKF(strstr(err, names) != NULL, "error \"%s\" does not name %s", err, names);
  if (not_in) CHECKF(strstr(err, not_in) == NULL, "error \"%s\" shows %s", err, not_in);
  if (st == INPROF_OK) inprof__http_stop(deadline_in_ms(100));
}

static void expect_url(inprof__settings s, const char *want) {
  inprof_status st = inprof__http_start(&s);
  CHECKF(st == INPROF_OK, "start failed: %s", inprof_last_error());
  if (st != INPROF_OK) return;
  char *url = inprof__http_current_url();
  CHECKF(url && !strcmp(url, want), "url %s, expected %s", url ? url : "(null)", want);
  free(url);
  inprof__http_stop(deadline_in_ms(1000));
}

int main(void) {
  /* Destinations and their errors. */
  inprof__settings s = agent_settings(NULL);
  expect_url(s, "http://localhost:8126/profiling/v1/input");
  s.agent_url = (char *)"http://10.1.2.3:9126";
  expect_url(s, "http://10.1.2.3:9126/profiling/v1/input");
  s.agent_url = (char *)"http://agent.local:8126/";
  expect_url(s, "http://agent.local:8126/profiling/v1/input");
  s.agent_url = (char *)"http://[::1]:8126";
  expect_url(s, "http://[::1]:8126/profiling/v1/input");
  s.agent_url = (char *)"unix:///var/run/datadog/apm.socket";
  expect_url(s, "http://localhost/profiling/v1/input");

  s.agent_url = (char *)"ftp://agent:21";
  expect_invalid(s, "DD_TRACE_AGENT_URL", NULL);
  CHECK(strstr(inprof_last_error(), "ftp") != NULL);
  s.agent_url = (char *)"localhost:8126";
  expect_invalid(s, "DD_TRACE_AGENT_URL", NULL);
  s.agent_url = (char *)"http://";
  expect_invalid(s, "DD_TRACE_AGENT_URL", NULL);
  s.agent_url = (char *)"http://host:99999";
  expect_invalid(s, "DD_TRACE_AGENT_URL", NULL);
  s.agent_url = (char *)"http://host:8126/some/path";
  expect_invalid(s, "DD_TRACE_AGENT_URL", NULL);
  s.agent_url = (char *)"unix://relative/path";
  expect_invalid(s, "DD_TRACE_AGENT_URL", NULL);

  s = agent_settings(NULL);
  s.agentless = 1;
  expect_invalid(s, "DD_API_KEY", NULL);
  s.api_key = (char *)"";
  expect_invalid(s, "DD_API_KEY", NULL);
  s.api_key = (char *)"secret key\n";
  expect_invalid(s, "DD_API_KEY", "secret");
  s.api_key = (char *)"0123456789abcdef0123456789abcdef";
  expect_url(s, "https://intake.profile.datadoghq.com/api/v2/profile");
  s.site = (char *)"datadoghq.eu";
  expect_url(s, "https://intake.profile.datadoghq.eu/api/v2/profile");
  s.site = (char *)"evil.com/x?";
  expect_invalid(s, "DD_SITE", "0123456789abcdef");
  s.site = NULL;
  s.intake_url = (char *)"https://127.0.0.1:4443";
  expect_url(s, "https://127.0.0.1:4443/api/v2/profile");
  s.intake_url = (char *)"https://127.0.0.1:4443/custom/path";
  expect_url(s, "https://127.0.0.1:4443/custom/path");
  s.intake_url = (char *)"gopher://x";
  expect_invalid(s, "INPROF_INTAKE_URL", "0123456789abcdef");
  s.intake_url = NULL;
  s.ca_bundle = (char *)"/nonexistent/ca.pem";
  expect_invalid(s, "INPROF_CA_BUNDLE", "0123456789abcdef");

  /* Submit and stop without start are harmless; stop twice too. */
  inprof__upload_meta m = {1, 2, 3};
  inprof__http_submit((const uint8_t *)"x", 1, &m);
  inprof__http_stop(deadline_in_ms(10));
  inprof__http_stop(deadline_in_ms(10));

  /* RFC 3339 with nanoseconds, UTC. */
  char ts[40];
  inprof__http_rfc3339(1795964400123456789ull, ts, sizeof ts);
  CHECKF(!strcmp(ts, "2026-11-29T15:00:00.123456789Z"), "%s", ts);
  inprof__http_rfc3339(5, ts, sizeof ts);
  CHECKF(!strcmp(ts, "1970-01-01T00:00:00.000000005Z"), "%s", ts);

  /* runtime-id: a UUID v4, the same all process long. */
  const char *rid = inprof__http_runtime_id();
  CHECK(strlen(rid) == 36 && rid[8] == '-' && rid[13] == '-' && rid[14] == '4' &&
        rid[18] == '-' && strchr("89ab", rid[19]) && rid[23] == '-');
  char first[37];
  snprintf(first, sizeof first, "%s", rid);
  CHECK(!strcmp(first, inprof__http_runtime_id()));
  pid_t child = fork();
  if (child == 0) _exit(strcmp(first, inprof__http_runtime_id()) != 0 ? 0 : 1);
  int st;
  waitpid(child, &st, 0);
  CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forked child kept the runtime-id");

  /* Container ids from cgroup v1 lines, none from cgroup v2's "0::/". */
  const char *id = "3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860";
  char out[65], text[512];
  snprintf(text, sizeof text, "12:pids:/docker/%s\n11:memory:/docker/%s\n", id, id);
  CHECK(inprof__http_container_id(text, out) == 1 && !strcmp(out, id));
  snprintf(text, sizeof text,
           "1:name=systemd:/kubepods.slice/kubepods-pod1.slice/cri-containerd-%s.scope\n", id);
  CHECK(inprof__http_container_id(text, out) == 1 && !strcmp(out, id));
  snprintf(text, sizeof text, "0::/system.slice/docker-%s.scope\n", id);
  CHECK(inprof__http_container_id(text, out) == 1 && !strcmp(out, id));
  CHECK(inprof__http_container_id("0::/\n", out) == 0 && out[0] == 0);
  CHECK(inprof__http_container_id("0::/user.slice/user-1000.slice/session-2.scope\n", out) == 0);
  /* 65 hex digits is not an id. */
  snprintf(text, sizeof text, "12:pids:/docker/%sa\n", id);
  CHECK(inprof__http_container_id(text, out) == 0);

  /* Entity ids: the container when known, else the cgroup directory's
   * inode (v2's "0::" line first, then v1's memory controller). */
  char eid[INPROF__ENTITY_ID_MAX];
  snprintf(text, sizeof text, "12:pids:/docker/%s\n", id);
  CHECK(inprof__dd_entity_id(text, "/nonexistent", eid) == 1 && !strncmp(eid, "ci-", 3) &&
        !strcmp(eid + 3, id));
  char root[] = "/tmp/inprof-cgroup-XXXXXX";
  REQUIRE(mkdtemp(root));
  char dir[256];
  snprintf(dir, sizeof dir, "%s/app.slice", root);
  REQUIRE(mkdir(dir, 0700) == 0);
  struct stat sb;
  REQUIRE(stat(dir, &sb) == 0);
  char want[64];
  snprintf(want, sizeof want, "in-%llu", (unsigned long long)sb.st_ino);
  CHECKF(inprof__dd_entity_id("0::/app.slice\n", root, eid) == 1 && !strcmp(eid, want), "%s", eid);
  snprintf(dir, sizeof dir, "%s/memory", root);
  REQUIRE(mkdir(dir, 0700) == 0);
  snprintf(dir, sizeof dir, "%s/memory/job", root);
  REQUIRE(mkdir(dir, 0700) == 0);
  REQUIRE(stat(dir, &sb) == 0);
  snprintf(want, sizeof want, "in-%llu", (unsigned long long)sb.st_ino);
  CHECKF(inprof__dd_entity_id("4:cpu:/other\n3:memory:/job\n", root, eid) == 1 &&
         !strcmp(eid, want), "%s", eid);
  CHECK(inprof__dd_entity_id("0::/missing\n", root, eid) == 0 && eid[0] == 0);
  char rm[300];
  snprintf(rm, sizeof rm, "rm -rf %s", root);
  CHECK(system(rm) == 0);

  /* event.json: escaped, with every tag, valid for a JSON parser. */
  s = agent_settings(NULL);
  s.service = (char *)"svc \"quoted\"\\\x01,comma";
  s.tags = (char *)"a:1, b:2 c:3,,";
  s.api_key = (char *)"secret-key-never-shown";
  s.cpu_hz = 99;
  inprof__upload_meta meta = {1795964400000000001ull, 1795964460000000002ull, 42};
  char *ev = inprof__http_event_json(&s, &meta);
  REQUIRE(ev);
  CHECKF(strstr(ev, "\"start\":\"2026-11-29T15:00:00.000000001Z\"") != NULL, "%s", ev);
  CHECKF(strstr(ev, "\"end\":\"2026-11-29T15:01:00.000000002Z\"") != NULL, "%s", ev);
  CHECKF(strstr(ev, "service:svc \\\"quoted\\\"\\\\\\u0001_comma,") != NULL, "%s", ev);
  CHECKF(strstr(ev, ",profile_seq:42\"") != NULL, "%s", ev);
  CHECKF(strstr(ev, ",a:1,b:2,c:3,") != NULL, "%s", ev);
  char path[] = "/tmp/inprof-event-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, ev, strlen(ev)) == (ssize_t)strlen(ev));
  close(fd);
  char *py = testutil_capture(
      "python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); "
      "st=e[\"info\"][\"profiler\"][\"settings\"]; "
      "print(e[\"family\"], e[\"version\"], e[\"attachments\"][0], e[\"endpoint_counts\"], "
      "e[\"process_tags\"].split(\",\")[0], \"cpu_samples\" in e[\"internal\"][\"statistics\"], "
      "st[\"DD_API_KEY\"], st[\"INPROF_CPU_HZ\"], e[\"tags_profiler\"].split(\",\")[0])' %s",
      path);
  CHECKF(!strstr(ev, "secret-key-never-shown"), "event.json shows the API key: %s", ev);
  CHECKF(py && !strcmp(py, "native 4 profile.pprof None entrypoint.name:test_http_unit True "
                           "<set> 99 service:svc \"quoted\"\\\x01_comma\n"),
         "python read: %s", py ? py : "(null)");
  free(py);
  unlink(path);
  free(ev);
  return testutil_done("test_http_unit");
}
