#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "text/chat_template.hpp"

using agora::inference::chat_template;
using agora::inference::load_chat_template_source;
using agora::inference::render_chat;
using agora::inference::render_options;
using agora::inference::template_error;
using json = nlohmann::ordered_json;

namespace {

std::string render(const std::string& source, const json& context = json::object(), const render_options& options = {}) {
  return chat_template(source).render(context, options);
}

std::string error_of(const std::string& source, const json& context = json::object(),
                     const render_options& options = {}) {
  try {
    chat_template(source).render(context, options);
  } catch (const template_error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("text and expressions render and one trailing newline is dropped", "[inference][template]") {
  CHECK(render("Hello {{ name }}!\n", {{"name", "Ada"}}) == "Hello Ada!");
  CHECK(render("a\n\n") == "a\n");
  CHECK(render("{{ 'it''s' }} {{ \"q\\\"\\n\\t\\u00e9\" }}") == "its q\"\n\t\xc3\xa9");
  CHECK(render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}") == "7 3 -4 2 3.5 1024");
  CHECK(render("{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 3.0 if false else 2.50 }}") == "1.0 0.30000000000000004 2.5");
  CHECK(render("{{ 'a' ~ 1 ~ none ~ undefined_thing }} {{ 'x' + 'y' }} {{ 'ab' * 3 }}") == "a1 xy ababab");
  CHECK(render("{{ true }} {{ none }}{{ missing }} {{ [1, 'a', none] }} {{ {'k': [true]} }}") ==
        "true  [1, \"a\", null] {\"k\": [true]}");
}

TEST_CASE("trim_blocks and lstrip_blocks are on, as in transformers", "[inference][template]") {
  CHECK(render("  {% if true %}\nyes\n  {% endif %}\nend") == "yes\nend");
  CHECK(render("{# note #}\nafter") == "after");
  CHECK(render("a  {{- ' b ' -}}  c") == "a b c");
  CHECK(render("a\n  {%- if true -%}\n  b  \n{%- endif %}") == "ab");
  CHECK(render("x {{ 1 }}\ny") == "x 1\ny");
  CHECK(render("a {#- c -#} b") == "ab");
  CHECK(render("{% generation %}kept{% endgeneration %}") == "kept");
}

TEST_CASE("if, elif and else pick one branch", "[inference][template]") {
  const std::string t = "{% if n > 1 %}many{% elif n == 1 %}one{% else %}none{% endif %}";
  CHECK(render(t, {{"n", 3}}) == "many");
  CHECK(render(t, {{"n", 1}}) == "one");
  CHECK(render(t, {{"n", 0}}) == "none");
  CHECK(render("{{ 'y' if x else 'n' }}{{ 'z' if x }}", {{"x", false}}) == "n");
}

TEST_CASE("for loops expose loop variables and support filters, else and unpacking", "[inference][template]") {
  CHECK(render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ x }}"
               "{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}/{{ loop.length }} {% endfor %}",
               {{"xs", {"a", "b"}}}) == "102aF/2 211bL/2 ");
  CHECK(render("{% for x in xs if x is odd %}{{ x }}{{ loop.length }},{% endfor %}", {{"xs", {1, 2, 3, 4, 5}}}) ==
        "13,33,53,");
  CHECK(render("{% for x in [] %}x{% else %}empty{% endfor %}") == "empty");
  CHECK(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {{"d", {{"b", 1}, {"a", 2}}}}) ==
        "b=1;a=2;");
  CHECK(render("{% for k in d %}{{ k }}{% endfor %}", {{"d", {{"x", 1}, {"y", 2}}}}) == "xy");
  CHECK(render("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}"
               "{{ x }}{% endfor %}") == "013");
  CHECK(render("{% for x in nothing %}x{% endfor %}ok") == "ok");
  CHECK(render("{% for i in range(1, 7, 2) %}{{ i }}{{ loop.cycle('a', 'b') }}{% endfor %}") == "1a3b5a");
}

TEST_CASE("set and block set and namespaces follow Jinja scoping", "[inference][template]") {
  CHECK(render("{% set x = 1 %}{% for i in [1, 2] %}{% set x = i %}{% endfor %}{{ x }}") == "1");
  CHECK(render("{% set ns = namespace(total=0, seen=false) %}{% for i in [1, 2, 3] %}{% set ns.total = ns.total + i %}"
               "{% endfor %}{{ ns.total }} {{ ns.seen }}") == "6 false");
  CHECK(render("{% set body %}  inner {{ 1 }}{% endset %}[{{ body }}]") == "[  inner 1]");
  CHECK(render("{% set a, b = 1, 2 %}{{ b }}{{ a }}") == "21");
  CHECK(render("{% set xs = [] %}{% for i in range(3) %}{% set _ = xs.append(i * i) %}{% endfor %}{{ xs }}") ==
        "[0, 1, 4]");
}

TEST_CASE("macros take defaults and keywords and call blocks reach caller()", "[inference][template]") {
  CHECK(render("{% macro tag(name, cls='c') %}<{{ name }} {{ cls }}>{% endmacro %}{{ tag('a') }}{{ tag('b', cls='d') }}") ==
        "<a c><b d>");
  CHECK(render("{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}body{% endcall %}") == "[body]");
  CHECK(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}") == "321");
  CHECK(render("{% filter upper %}shout {{ 'it' }}{% endfilter %}") == "SHOUT IT");
}

TEST_CASE("member access and slices and membership work", "[inference][template]") {
  json ctx = {{"m", {{"role", "user"}, {"content", "hi"}}}, {"xs", {1, 2, 3, 4}}, {"s", "h\xc3\xa9llo"}};
  CHECK(render("{{ m['role'] }} {{ m.content }} {{ m.missing }}{{ m.missing.deeper }}|", ctx) == "user hi |");
  CHECK(render("{{ xs[0] }} {{ xs[-1] }} {{ xs[1:] }} {{ xs[::-1] }} {{ xs[:-1] }} {{ xs[::2] }} {{ xs[9] }}|", ctx) ==
        "1 4 [2, 3, 4] [4, 3, 2, 1] [1, 2, 3] [1, 3] |");
  CHECK(render("{{ s[1] }} {{ s[::-1] }} {{ s | length }}", ctx) == "\xc3\xa9 oll\xc3\xa9h 5");
  CHECK(render("{{ 2 in xs }} {{ 9 not in xs }} {{ 'ol' in 'hola' }} {{ 'role' in m }} {{ 'x' in undef }}", ctx) ==
        "true true true true false");
}

TEST_CASE("tests cover the ones chat templates use", "[inference][template]") {
  json ctx = {{"s", "x"}, {"n", 3}, {"f", 1.5}, {"l", json::array()}, {"d", json::object()}, {"z", nullptr}};
  CHECK(render("{{ s is string }}{{ n is number }}{{ f is number }}{{ l is iterable }}{{ d is mapping }}"
               "{{ z is none }}{{ q is undefined }}{{ s is defined }}{{ l is sequence }}",
               ctx) == "truetruetruetruetruetruetruetruetrue");
  CHECK(render("{{ n is odd }}{{ n is even }}{{ n is divisibleby 3 }}{{ s is equalto 'x' }}{{ s is not string }}"
               "{{ true is true }}{{ 0 is false }}",
               ctx) == "truefalsetruetruefalsetruefalse");
}

TEST_CASE("filters behave as Jinja and transformers define them", "[inference][template]") {
  json ctx = {{"tools", {{{"name", "a"}, {"on", true}}, {{"name", "b"}, {"on", false}}}},
              {"obj", {{"z", 1}, {"a", {{"k", "v\xc3\xa9"}}}}}};
  CHECK(render("{{ obj | tojson }}", ctx) == "{\"z\": 1, \"a\": {\"k\": \"v\xc3\xa9\"}}");
  CHECK(render("{{ obj | tojson(indent=2) }}", ctx) == "{\n  \"z\": 1,\n  \"a\": {\n    \"k\": \"v\xc3\xa9\"\n  }\n}");
  CHECK(render("{{ obj | tojson(separators=(',', ':'), sort_keys=true) }}", ctx) == "{\"a\":{\"k\":\"v\xc3\xa9\"},\"z\":1}");
  CHECK(render("{{ obj | tojson(ensure_ascii=true) }}", ctx) == "{\"z\": 1, \"a\": {\"k\": \"v\\u00e9\"}}");
  CHECK(render("{{ [] | tojson(indent=4) }} {{ 'a\"\\n' | tojson }}") == "[] \"a\\\"\\n\"");
  CHECK(render("{{ tools | map(attribute='name') | join(', ') }}", ctx) == "a, b");
  CHECK(render("{{ tools | selectattr('on') | map(attribute='name') | list }}", ctx) == "[\"a\"]");
  CHECK(render("{{ tools | rejectattr('name', 'equalto', 'a') | map(attribute='name') | first }}", ctx) == "b");
  CHECK(render("{{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) | first }} {{ [1, 2, 1] | unique | list }}") ==
        "[1, 2, 3] 3 [1, 2]");
  CHECK(render("{{ ['a', 'b', 'c'] | reject('in', ['b']) | list }} {{ [0, 1, 2] | select | list }}") ==
        "[\"a\", \"c\"] [1, 2]");
  CHECK(render("{{ '  pad  ' | trim }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}|{{ 'ab' | upper }}") ==
        "pad|Hello World|Hello|AB");
  CHECK(render("{{ 'a-b-c' | replace('-', '+') }} {{ [1, 2] | length }} {{ 'xyz' | count }} {{ [1, 2] | last }}") ==
        "a+b+c 2 3 2");
  CHECK(render("{{ missing | default('dflt') }} {{ '' | default('e', true) }} {{ 'v' | default('x') }}") == "dflt e v");
  CHECK(render("{{ '42' | int + 1 }} {{ 'x' | int }} {{ '2.5' | float }} {{ -3 | abs }} {{ 7 | string }}") == "43 0 2.5 3 7");
  CHECK(render("{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, first=true) }}") == "a\n  b\n\n  c|  a\n  b");
  CHECK(render("{% for k, v in obj | items %}{{ k }}{% endfor %} {{ obj | dictsort | first | first }}", ctx) == "za a");
  CHECK(render("{{ [1, 2, 3, 4, 5] | batch(2) | list }}") == "[[1, 2], [3, 4], [5]]");
  CHECK(render("{{ '<a>' | safe }} {{ '<a>' | e }}") == "<a> &lt;a&gt;");
}

TEST_CASE("string and mapping and list methods work", "[inference][template]") {
  json ctx = {{"d", {{"a", 1}}}};
  CHECK(render("{{ '\\n\\n x \\n'.lstrip('\\n') }}|{{ ' x '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'ab '.rstrip() }}|") ==
        " x \n|x|hi|ab|");
  CHECK(render("{{ 'a</think>b'.split('</think>')[-1] }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }}") ==
        "b [\"a\", \"b\"] [\"a\", \"b,c\"]");
  CHECK(render("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'Hi'.upper() }}{{ 'Hi'.lower() }}") ==
        "true true HIhi");
  CHECK(render("{{ 'aaa'.replace('a', 'b', 2) }} {{ 'a b'.title() }} {{ ', '.join(['x', 'y']) }}") == "bba A B x, y");
  CHECK(render("{{ d.get('a') }} {{ d.get('b', 'no') }} {{ d.keys() | list }} {{ d.values() | list }}", ctx) ==
        "1 no [\"a\"] [1]");
}

TEST_CASE("strftime_now uses the injected time", "[inference][template]") {
  render_options options;
  std::tm tm{};
  tm.tm_year = 2024 - 1900;
  tm.tm_mon = 6;
  tm.tm_mday = 5;
  tm.tm_hour = 9;
  tm.tm_min = 7;
  options.now = tm;
  CHECK(render("{{ strftime_now('%d %b %Y') }} {{ strftime_now('%B %-d, %H:%M %%') }}", json::object(), options) ==
        "05 Jul 2024 July 5, 09:07 %");
}

TEST_CASE("syntax errors name the line and column", "[inference][template]") {
  auto expect_syntax_error = [](const std::string& source, std::size_t line, const std::string& fragment) {
    try {
      chat_template t(source);
      FAIL("no syntax error for: " << source);
    } catch (const template_error& e) {
      CHECK(e.line() == line);
      CHECK(std::string(e.what()).find("line " + std::to_string(line)) != std::string::npos);
      CHECK(e.reason().find(fragment) != std::string::npos);
    }
  };
  expect_syntax_error("ok\n{% if x %}\nunclosed", 2, "not closed");
  expect_syntax_error("a\nb\n  {{ 1 + }}", 3, "unexpected");
  expect_syntax_error("{% frobnicate %}", 1, "unknown statement");
  expect_syntax_error("{{ 'open }}", 1, "unterminated string");
  expect_syntax_error("{% for x in y %}{% endif %}", 1, "endif");
  expect_syntax_error("{% break %}", 1, "outside a loop");
  expect_syntax_error("{{ x ! y }}", 1, "unexpected character");
}

TEST_CASE("raise_exception and type errors surface as template_error", "[inference][template]") {
  CHECK(error_of("\n{{ raise_exception('Conversation roles must alternate') }}") ==
        "line 2, column 4: Conversation roles must alternate");
  CHECK(error_of("{{ 'a' + none }}").find("none") != std::string::npos);
  CHECK(error_of("{{ x + 1 }}").find("undefined") != std::string::npos);
  CHECK(error_of("{{ 1 / 0 }}").find("division by zero") != std::string::npos);
  CHECK(error_of("{{ nothing() }}").find("not callable") != std::string::npos);
  CHECK(error_of("{{ [1] | nosuchfilter }}").find("unknown filter") != std::string::npos);
  CHECK(error_of("{% for x in 5 %}{% endfor %}").find("cannot iterate") != std::string::npos);
}

TEST_CASE("limits stop hostile templates", "[inference][template]") {
  render_options options;
  options.limits.max_output_bytes = 1 << 16;
  options.limits.max_steps = 200'000;
  CHECK(error_of("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", json::object(), options)
            .find("step limit") != std::string::npos);
  CHECK(error_of("{% for i in range(1000) %}{{ 'x' * 100 }}{% endfor %}", json::object(), options).find("output size") !=
        std::string::npos);
  CHECK(error_of("{{ range(100000000) | length }}", json::object(), options).find("too large") != std::string::npos);
  CHECK(error_of("{{ 'x' * 100000000 }}", json::object(), options).find("limit") != std::string::npos);
  CHECK(error_of("{% set ns = namespace(s='xx') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                 json::object(), options)
            .find("limit") != std::string::npos);
  CHECK(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").find("nesting limit") != std::string::npos);
  CHECK(error_of("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns | tojson }}").find("nested too deeply") !=
        std::string::npos);
  CHECK_THROWS_AS(chat_template("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"), template_error);
  CHECK_THROWS_AS(chat_template("{{ " + std::string(100000, '[')), template_error);
  CHECK_THROWS_AS(chat_template(std::string(3000, ' ') + std::string(3000, '{') + "% if x %}"), template_error);
  std::string nested_ifs;
  for (int i = 0; i < 2000; ++i) nested_ifs += "{% if true %}";
  CHECK_THROWS_AS(chat_template(nested_ifs), template_error);
}

TEST_CASE("render_chat passes messages and the generation flag and extra variables", "[inference][template]") {
  chat_template t(
      "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content | trim }}{{ eos_token }}{% endfor %}"
      "{% if tools is defined %}[tools:{{ tools | length }}]{% endif %}{% if add_generation_prompt %}<|assistant|>{% endif %}");
  json messages = json::array({{{"role", "user"}, {"content", " hi "}}});
  CHECK(render_chat(t, messages, true, {{"bos_token", "<s>"}, {"eos_token", "</s>"}}) == "<s><|user|>hi</s><|assistant|>");
  CHECK(render_chat(t, messages, false, {{"tools", nullptr}}) == "<|user|>hi");
  CHECK(render_chat(t, messages, false, {{"tools", json::array({1, 2})}}) == "<|user|>hi[tools:2]");
}

TEST_CASE("a Llama 3 style template renders a conversation", "[inference][template]") {
  chat_template t(
      "{% set loop_messages = messages %}{% for message in loop_messages %}"
      "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
      "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
      "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}");
  json messages = json::array({{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi "}}});
  CHECK(render_chat(t, messages, true, {{"bos_token", "<|begin_of_text|>"}}) ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST_CASE("the template is found in a model folder", "[inference][template]") {
  auto dir = std::filesystem::temp_directory_path() / "agora_chat_template_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  CHECK_FALSE(load_chat_template_source(dir).has_value());
  {
    std::ofstream(dir / "tokenizer_config.json")
        << R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})";
  }
  CHECK(load_chat_template_source(dir) == std::optional<std::string>("D"));
  CHECK(load_chat_template_source(dir, "tool_use") == std::optional<std::string>("T"));
  {
    std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "S"})";
  }
  CHECK(load_chat_template_source(dir) == std::optional<std::string>("S"));
  {
    std::ofstream(dir / "chat_template.jinja") << "J";
  }
  CHECK(load_chat_template_source(dir) == std::optional<std::string>("J"));
  std::filesystem::remove_all(dir);
}
