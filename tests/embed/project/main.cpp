// The README's embedding example: a real agora in-process, one keep-alive client, a
// restart in the middle. Exits 0 only if every step held.
#include <agora/testing.hpp>

#include <iostream>
#include <string>

namespace {

int fail(const std::string& step, const agora::testing::reply& r) {
  std::cerr << "embed_example: " << step << ": status " << r.status << " " << r.error << " " << r.body << "\n";
  return 1;
}

}  // namespace

int main() {
  agora::testing::harness h;  // 127.0.0.1, an ephemeral port, a temporary data dir, every module
  auto c = h.connect_as_admin();  // a keep-alive HTTP client, signed in as the harness's first admin

  auto created = c.post("/v1/products", {{"sku", "A-1"}, {"name", "A"}, {"price", {{"amount", 100}, {"currency", "EUR"}}}});
  if (created.status != 201) return fail("create", created);
  auto id = created.json()["id"].get<std::string>();

  h.restart();  // same data, same port: the client reconnects on its next request
  auto read = c.get("/v1/products/" + id);
  if (read.status != 200 || read.json()["sku"] != "A-1") return fail("read after restart", read);

  h.app().stop();  // nothing listens now: the client answers status 0 and says why
  auto refused = c.get("/healthz");
  if (refused.status != 0 || refused.error.empty()) return fail("request to a stopped app", refused);

  h.restart();
  auto back = c.get("/healthz");
  if (back.status != 200) return fail("health after the second restart", back);
  std::cout << "embed_example: ok (refused while stopped: " << refused.error << ")\n";
  return 0;
}
