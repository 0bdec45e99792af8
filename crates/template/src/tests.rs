//! Behaviour tests. Expected values come from Go text/template and Sprig semantics (documented
//! behaviour, and in comments what Go prints), not from this engine's output.

use super::*;

fn data(pairs: &[(&str, &str)]) -> Data {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Renders with `pairs`, panicking with the error if any.
fn r(src: &str, pairs: &[(&str, &str)]) -> String {
    match render("t", src, &data(pairs)) {
        Ok(out) => out.text,
        Err(e) => panic!("render of {src:?} failed: {e}"),
    }
}

/// Renders and returns the error.
fn err(src: &str, pairs: &[(&str, &str)]) -> TemplateError {
    match render("t", src, &data(pairs)) {
        Ok(out) => panic!("render of {src:?} should fail, got {:?}", out.text),
        Err(e) => e,
    }
}

// ---- text, actions, trimming, comments ----

#[test]
fn plain_text_and_fields() {
    assert_eq!(r("hello {{ .NAME }}!", &[("NAME", "kiln")]), "hello kiln!");
    assert_eq!(r("{{.A}}{{.B}}", &[("A", "1"), ("B", "2")]), "12");
    assert_eq!(r("no actions\n", &[]), "no actions\n");
}

#[test]
fn missing_key_prints_no_value() {
    assert_eq!(r("v={{ .NOPE }}", &[]), "v=<no value>");
    // A field of a missing value is also missing (Go returns the zero reflect.Value).
    assert_eq!(r("{{ .NOPE.DEEPER }}", &[]), "<no value>");
}

#[test]
fn missing_keys_are_reported_with_positions() {
    let out = render(
        "t",
        "a\n  {{ .X }} {{ .Y }}\n{{ .X }}",
        &data(&[("Y", "y")]),
    )
    .expect("renders");
    let got: Vec<(String, usize, usize)> = out
        .missing_keys()
        .iter()
        .map(|m| (m.name.clone(), m.line, m.column))
        .collect();
    assert_eq!(got, vec![("X".to_string(), 2, 6), ("X".to_string(), 3, 4)]);
}

#[test]
fn trim_markers() {
    // Go: "{{23 -}} < {{- 45}}" renders "23<45".
    assert_eq!(r("{{23 -}} < {{- 45}}", &[]), "23<45");
    assert_eq!(r("a\n\n  {{- .X }}\n", &[("X", "x")]), "ax\n");
    assert_eq!(r("{{ .X -}}\n\n  b", &[("X", "x")]), "xb");
    // Without a space the dash belongs to a number: {{-3}} prints -3 and trims nothing.
    assert_eq!(r("a {{-3}} b", &[]), "a -3 b");
}

#[test]
fn comments() {
    assert_eq!(r("a{{/* a comment */}}b", &[]), "ab");
    assert_eq!(r("a  {{- /* multi\nline */ -}}  b", &[]), "ab");
    assert_eq!(err("{{/* open", &[]).message, "unclosed comment");
    assert_eq!(
        err("{{/* x */ .X }}", &[]).message,
        "comment ends before closing delimiter"
    );
}

#[test]
fn literals() {
    assert_eq!(
        r(
            r#"{{ "a\tb" }}|{{ `raw\t` }}|{{ 42 }}|{{ -7 }}|{{ 1.5 }}|{{ true }}|{{ 0x1F }}|{{ 'a' }}"#,
            &[]
        ),
        "a\tb|raw\\t|42|-7|1.5|true|31|97"
    );
    // Go prints 1e6 as a float64 via %v: "1e+06".
    assert_eq!(r("{{ 1e6 }}", &[]), "1e+06");
    assert_eq!(err("{{ nil }}", &[]).message, "nil is not a command");
}

#[test]
fn dot_and_root_variable() {
    assert_eq!(r("{{ . }}", &[("A", "1"), ("B", "2")]), "map[A:1 B:2]");
    assert_eq!(
        r(
            r#"{{ with "inner" }}{{ . }}/{{ $.A }}{{ end }}"#,
            &[("A", "root")]
        ),
        "inner/root"
    );
}

#[test]
fn variables_declare_and_assign() {
    assert_eq!(r("{{ $x := .A }}[{{ $x }}]", &[("A", "1")]), "[1]");
    assert_eq!(r(r#"{{ $x := "a" }}{{ $x = "b" }}{{ $x }}"#, &[]), "b");
    // Assignment inside an if updates the outer variable (Go 1.11+).
    assert_eq!(
        r(
            r#"{{ $x := "a" }}{{ if true }}{{ $x = "b" }}{{ end }}{{ $x }}"#,
            &[]
        ),
        "b"
    );
    // A declaration inside a block is gone after {{end}}.
    let e = err(r#"{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}"#, &[]);
    assert_eq!(e.message, "undefined variable \"$y\"");
    assert_eq!((e.line, e.column), (1, 39));
}

#[test]
fn pipelines_pass_value_as_last_argument() {
    assert_eq!(
        r(r#"{{ .V | replace "-" "." }}"#, &[("V", "1-3-6")]),
        "1.3.6"
    );
    assert_eq!(r(r#"{{ "abc" | printf "%s-%s" "x" }}"#, &[]), "x-abc");
    assert_eq!(
        r(r#"{{ .V | upper | printf "<%s>" }}"#, &[("V", "hi")]),
        "<HI>"
    );
    assert_eq!(r(r#"{{ printf "%s" (upper (lower "AbC")) }}"#, &[]), "ABC");
}

// ---- control structures ----

#[test]
fn if_else_if_else() {
    let t = r#"{{ if eq .ARCH "aarch64" }}arm{{ else if eq .ARCH "x86_64" }}amd{{ else }}other{{ end }}"#;
    assert_eq!(r(t, &[("ARCH", "aarch64")]), "arm");
    assert_eq!(r(t, &[("ARCH", "x86_64")]), "amd");
    assert_eq!(r(t, &[("ARCH", "riscv64")]), "other");
}

#[test]
fn truthiness_follows_go() {
    let t = "{{ if .X }}T{{ else }}F{{ end }}";
    assert_eq!(r(t, &[("X", "")]), "F");
    assert_eq!(r(t, &[("X", "0")]), "T"); // a non-empty string is true, even "0"
    assert_eq!(r(t, &[]), "F"); // missing
    assert_eq!(r("{{ if 0 }}T{{ else }}F{{ end }}{{ if 0.0 }}T{{ else }}F{{ end }}{{ if false }}T{{ else }}F{{ end }}", &[]), "FFF");
    assert_eq!(
        r(
            "{{ if list }}T{{ else }}F{{ end }}{{ if list 1 }}T{{ else }}F{{ end }}",
            &[]
        ),
        "FT"
    );
}

#[test]
fn with_else() {
    assert_eq!(
        r(
            "{{ with .A }}[{{ . }}]{{ else }}none{{ end }}",
            &[("A", "x")]
        ),
        "[x]"
    );
    assert_eq!(
        r(
            "{{ with .A }}[{{ . }}]{{ else }}none{{ end }}",
            &[("A", "")]
        ),
        "none"
    );
    assert_eq!(
        r(
            "{{ with .A }}a{{ else with .B }}b={{ . }}{{ end }}",
            &[("B", "2")]
        ),
        "b=2"
    );
    assert_eq!(
        r("{{ with $x := .A }}{{ $x }}{{ end }}", &[("A", "v")]),
        "v"
    );
}

#[test]
fn range_over_lists_maps_and_ints() {
    assert_eq!(
        r(r#"{{ range list "a" "b" }}<{{ . }}>{{ end }}"#, &[]),
        "<a><b>"
    );
    assert_eq!(
        r(
            r#"{{ range $i, $v := list "a" "b" }}{{ $i }}={{ $v }};{{ end }}"#,
            &[]
        ),
        "0=a;1=b;"
    );
    assert_eq!(
        r(r#"{{ range $v := list "a" "b" }}{{ $v }}{{ end }}"#, &[]),
        "ab"
    );
    // Maps iterate in sorted key order.
    assert_eq!(
        r(
            "{{ range $k, $v := . }}{{ $k }}:{{ $v }} {{ end }}",
            &[("B", "2"), ("A", "1")]
        ),
        "A:1 B:2 "
    );
    assert_eq!(
        r(
            r#"{{ range $k, $v := split "." "x.y" }}{{ $k }}={{ $v }} {{ end }}"#,
            &[]
        ),
        "_0=x _1=y "
    );
    assert_eq!(r("{{ range 3 }}{{ . }}{{ end }}", &[]), "012");
    assert_eq!(r("{{ range list }}x{{ else }}empty{{ end }}", &[]), "empty");
    assert_eq!(
        r("{{ range .MISSING }}x{{ else }}empty{{ end }}", &[]),
        "empty"
    );
    assert_eq!(
        err(r#"{{ range "abc" }}{{ end }}"#, &[]).message,
        "range can't iterate over abc"
    );
}

#[test]
fn range_break_continue() {
    let t = "{{ range $i := until 6 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if eq $i 4 }}{{ break }}{{ end }}{{ $i }}{{ end }}";
    assert_eq!(r(t, &[]), "023");
    assert_eq!(
        err("{{ break }}", &[]).message,
        "{{break}} outside {{range}}"
    );
}

#[test]
fn range_variables_scoped_per_iteration() {
    assert_eq!(
        r(
            r#"{{ range list "a" "b" }}{{ $x := . }}{{ $x }}{{ end }}"#,
            &[]
        ),
        "ab"
    );
}

#[test]
fn define_template_block() {
    let t = r#"{{ define "greet" }}hi {{ . }}{{ end }}{{ template "greet" .NAME }}|{{ block "b" "x" }}[{{ . }}]{{ end }}"#;
    assert_eq!(r(t, &[("NAME", "bob")]), "hi bob|[x]");
    assert_eq!(
        err(r#"{{ template "nope" }}"#, &[]).message,
        "no such template \"nope\""
    );
    let e = err(
        r#"{{ define "loop" }}{{ template "loop" }}{{ end }}{{ template "loop" }}"#,
        &[],
    );
    assert!(e.message.contains("maximum template depth"), "{e}");
}

// ---- builtins ----

#[test]
fn eq_is_multi_way() {
    assert_eq!(r(r#"{{ eq .A "x" "y" "z" }}"#, &[("A", "y")]), "true");
    assert_eq!(r(r#"{{ eq .A "x" "y" }}"#, &[("A", "q")]), "false");
    assert_eq!(r(r#"{{ ne .A "x" }}"#, &[("A", "q")]), "true");
    assert_eq!(r("{{ eq 1 1 }}{{ eq true false }}", &[]), "truefalse");
}

#[test]
fn comparisons_of_mismatched_types_fail_like_go() {
    let e = err(r#"{{ eq "1" 1 }}"#, &[]);
    assert_eq!(
        e.message,
        "error calling eq: incompatible types for comparison: string and int"
    );
    assert_eq!((e.line, e.column), (1, 4));
    assert_eq!(
        err(r#"{{ lt .A 1 }}"#, &[("A", "x")]).message,
        "error calling lt: incompatible types for comparison: string and int"
    );
    assert_eq!(
        err("{{ lt .MISSING 1 }}", &[]).message,
        "error calling lt: invalid type for comparison"
    );
    assert_eq!(
        err("{{ lt true false }}", &[]).message,
        "error calling lt: invalid type for comparison"
    );
}

#[test]
fn eq_on_missing_value_is_false_not_an_error() {
    // Since Go 1.18 `eq` with an invalid (missing) operand is false instead of an error, and `ne` true.
    assert_eq!(r(r#"{{ eq .MISSING "x" }}"#, &[]), "false");
    assert_eq!(r(r#"{{ eq .MISSING "" }}"#, &[]), "false");
    assert_eq!(r(r#"{{ ne .MISSING "" }}"#, &[]), "true");
    assert_eq!(r("{{ eq .MISSING .ALSO_MISSING }}", &[]), "true");
}

#[test]
fn ordering() {
    assert_eq!(
        r(
            r#"{{ lt 1 2 }}{{ le 2 2 }}{{ gt "b" "a" }}{{ ge 1.5 2.5 }}"#,
            &[]
        ),
        "truetruetruefalse"
    );
}

#[test]
fn and_or_return_deciding_value_and_short_circuit() {
    assert_eq!(
        r(
            r#"{{ and "a" "b" }}|{{ and "" "b" }}|{{ or "" "b" }}|{{ or "a" "b" }}|{{ or "" 0 }}"#,
            &[]
        ),
        "b||b|a|0"
    );
    // Short-circuit: the failing call after the deciding value is never evaluated.
    assert_eq!(r(r#"{{ or "x" (index list 5) }}"#, &[]), "x");
    assert_eq!(r(r#"{{ and "" (index list 5) }}"#, &[]), "");
    assert_eq!(r("{{ not .MISSING }}{{ not 1 }}", &[]), "truefalse");
}

#[test]
fn len_index_slice() {
    assert_eq!(r(r#"{{ len "héllo" }}"#, &[]), "6"); // bytes, like Go
    assert_eq!(
        r(r#"{{ len (list 1 2 3) }}{{ len . }}"#, &[("A", "")]),
        "31"
    );
    assert_eq!(r(r#"{{ index (list "a" "b") 1 }}"#, &[]), "b");
    assert_eq!(
        r(r#"{{ index . "A" }}|{{ index . "NOPE" }}|"#, &[("A", "1")]),
        "1||"
    );
    assert_eq!(r(r#"{{ index (split "-" "1-3-6") "_2" }}"#, &[]), "6");
    assert_eq!(
        err(r#"{{ index (list "a") 3 }}"#, &[]).message,
        "error calling index: index out of range: 3"
    );
    assert_eq!(
        err("{{ len 3 }}", &[]).message,
        "error calling len: len of type int"
    );
    assert_eq!(
        r(
            r#"{{ slice "abcdef" 1 3 }}|{{ slice "abc" 1 }}|{{ slice (list 1 2 3) 1 }}"#,
            &[]
        ),
        "bc|bc|[2 3]"
    );
}

#[test]
fn print_family() {
    // fmt.Sprint adds spaces only between operands when neither is a string.
    assert_eq!(r(r#"{{ print "a" 1 2 "b" }}"#, &[]), "a1 2b");
    assert_eq!(r(r#"{{ println "a" 1 }}"#, &[]), "a 1\n");
    assert_eq!(
        r(
            r#"{{ printf "%s=%d %v %q %x %%" "k" 7 true "q" "hi" }}"#,
            &[]
        ),
        "k=7 true \"q\" 6869 %"
    );
    assert_eq!(r(r#"{{ printf "%s" .MISSING }}"#, &[]), "%!s(<nil>)");
    assert_eq!(r(r#"{{ print .MISSING }}"#, &[]), "<nil>");
}

#[test]
fn html_urlquery_js() {
    assert_eq!(
        r(r#"{{ html "<a href='x'>&</a>" }}"#, &[]),
        "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
    );
    assert_eq!(r(r#"{{ urlquery "a b&c" }}"#, &[]), "a+b%26c");
    assert_eq!(r(r#"{{ js "it's <b>" }}"#, &[]), "it\\'s \\u003Cb\\u003E");
}

// ---- sprig ----

#[test]
fn sprig_defaults_and_logic() {
    assert_eq!(
        r(
            r#"{{ default "d" .MISSING }}|{{ default "d" .E }}|{{ default "d" .V }}"#,
            &[("E", ""), ("V", "v")]
        ),
        "d|d|v"
    );
    assert_eq!(r(r#"{{ .MISSING | default "d" }}"#, &[]), "d");
    assert_eq!(
        r(
            r#"{{ empty "" }}{{ empty 0 }}{{ empty "a" }}{{ empty .MISSING }}"#,
            &[]
        ),
        "truetruefalsetrue"
    );
    assert_eq!(r(r#"{{ coalesce .MISSING "" "x" "y" }}"#, &[]), "x");
    assert_eq!(r(r#"{{ coalesce "" }}"#, &[]), "<no value>");
    assert_eq!(
        r(
            r#"{{ ternary "yes" "no" true }}{{ false | ternary "yes" "no" }}"#,
            &[]
        ),
        "yesno"
    );
}

#[test]
fn sprig_strings() {
    assert_eq!(r(r#"{{ replace "-" "." "1-3-6" }}"#, &[]), "1.3.6");
    assert_eq!(
        r(r#"{{ substr 0 7 .REF }}"#, &[("REF", "0123456789abcdef")]),
        "0123456"
    );
    assert_eq!(
        r(
            r#"{{ substr 2 100 "hello" }}|{{ substr -1 2 "hello" }}"#,
            &[]
        ),
        "llo|he"
    );
    assert_eq!(
        r(
            r#"{{ trunc 3 "hello" }}|{{ trunc -2 "hello" }}|{{ trunc 10 "hi" }}"#,
            &[]
        ),
        "hel|lo|hi"
    );
    assert_eq!(r(r#"{{ cat "a" 1 .MISSING "b" }}"#, &[]), "a 1 b");
    assert_eq!(
        r(
            r#"[{{ trim "  x y \n" }}]{{ trimAll "$" "$$5.00$" }}{{ trimPrefix "v" "v1.2" }}{{ trimSuffix ".tar" "a.tar" }}"#,
            &[]
        ),
        "[x y]5.001.2a"
    );
    assert_eq!(
        r(
            r#"{{ upper "abc" }}{{ lower "ABC" }}{{ title "hello world" }}|{{ untitle "Hello World" }}"#,
            &[]
        ),
        "ABCabcHello World|hello world"
    );
    assert_eq!(r(r#"{{ repeat 3 "ab" }}"#, &[]), "ababab");
    assert_eq!(
        r(
            r#"{{ contains "ll" "hello" }}{{ hasPrefix "he" "hello" }}{{ hasSuffix "x" "hello" }}"#,
            &[]
        ),
        "truetruefalse"
    );
    assert_eq!(
        r(r#"{{ quote "a\"b" 1 }}|{{ squote "a" }}"#, &[]),
        r#""a\"b" "1"|'a'"#
    );
    assert_eq!(
        r(r#"{{ indent 2 "a\nb" }}|{{ nindent 2 "a" }}"#, &[]),
        "  a\n  b|\n  a"
    );
    assert_eq!(r(r#"{{ nospace " a b\tc " }}"#, &[]), "abc");
    assert_eq!(
        r(
            r#"{{ plural "one" "many" 1 }} {{ plural "one" "many" 2 }}"#,
            &[]
        ),
        "one many"
    );
}

#[test]
fn sprig_split_join() {
    assert_eq!(r(r#"{{ (split "." "1.2.3")._1 }}"#, &[]), "2");
    assert_eq!(r(r#"{{ split "." "1.2" }}"#, &[]), "map[_0:1 _1:2]");
    assert_eq!(r(r#"{{ splitList "," "a,b,c" }}"#, &[]), "[a b c]");
    assert_eq!(r(r#"{{ (splitn "." 2 "1.2.3")._1 }}"#, &[]), "2.3");
    assert_eq!(
        r(r#"{{ join "-" (list "a" 1 .MISSING "b") }}"#, &[]),
        "a-1-b"
    );
    assert_eq!(
        r(r#"{{ splitList "," "b,a" | sortAlpha | join "" }}"#, &[]),
        "ab"
    );
}

#[test]
fn sprig_conversions_and_math() {
    assert_eq!(
        r(
            r#"{{ atoi "42" }}|{{ atoi "x" }}|{{ int "0x10" }}|{{ int64 "7" }}|{{ toString 5 }}"#,
            &[]
        ),
        "42|0|16|7|5"
    );
    assert_eq!(
        r(
            r#"{{ add 1 2 "3" }}|{{ sub 5 7 }}|{{ mul 2 3 4 }}|{{ div 7 2 }}|{{ mod 7 3 }}|{{ add1 1 }}"#,
            &[]
        ),
        "6|-2|24|3|1|2"
    );
    assert_eq!(r(r#"{{ max 1 5 3 }}|{{ min 4 2 9 }}"#, &[]), "5|2");
    assert_eq!(
        err("{{ div 1 0 }}", &[]).message,
        "error calling div: runtime error: integer divide by zero"
    );
}

#[test]
fn sprig_lists() {
    assert_eq!(r(r#"{{ list 1 "a" true }}"#, &[]), "[1 a true]");
    assert_eq!(
        r(
            r#"{{ first (list "a" "b") }}{{ last (list "a" "b") }}"#,
            &[]
        ),
        "ab"
    );
    assert_eq!(r(r#"{{ first list }}"#, &[]), "<no value>");
    assert_eq!(
        r(
            r#"{{ has "b" (list "a" "b") }}{{ has 1 (list "1") }}{{ has "x" .MISSING }}"#,
            &[]
        ),
        "truefalsefalse"
    );
    assert_eq!(
        r(
            r#"{{ rest (list 1 2 3) }}{{ initial (list 1 2 3) }}{{ reverse (list 1 2) }}"#,
            &[]
        ),
        "[2 3][1 2][2 1]"
    );
    assert_eq!(
        r(
            r#"{{ append (list 1) 2 }}{{ prepend (list 1) 0 }}{{ uniq (list 1 1 2) }}"#,
            &[]
        ),
        "[1 2][0 1][1 2]"
    );
    assert_eq!(
        r(
            r#"{{ (dict "a" 1 "b" "x").b }}{{ hasKey (dict "a" 1) "a" }}"#,
            &[]
        ),
        "xtrue"
    );
    assert_eq!(r("{{ until 3 }}", &[]), "[0 1 2]");
}

#[test]
fn sprig_encoding() {
    assert_eq!(
        r(r#"{{ b64enc "hello" }}|{{ b64dec "aGVsbG8=" }}"#, &[]),
        "aGVsbG8=|hello"
    );
    // Sprig returns the decoder error text as the value.
    assert_eq!(
        r(r#"{{ b64dec "!!" }}"#, &[]),
        "illegal base64 data at input byte 0"
    );
    assert_eq!(
        r(r#"{{ sha256sum "abc" }}"#, &[]),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn argument_types_are_checked_like_go() {
    // A missing value cannot be passed where Sprig wants a string.
    let e = err(r#"{{ .MISSING | replace "-" "." }}"#, &[]);
    assert_eq!(e.message, "invalid value; expected string");
    assert_eq!(
        err(r#"{{ substr "a" 2 "abc" }}"#, &[]).message,
        "expected integer; found \"a\""
    );
    assert_eq!(
        err(r#"{{ upper 5 }}"#, &[]).message,
        "expected string; found 5"
    );
    assert_eq!(
        err(r#"{{ upper (len "x") }}"#, &[]).message,
        "wrong type for value; expected string; got int"
    );
    assert_eq!(
        err(r#"{{ upper "a" "b" }}"#, &[]).message,
        "wrong number of args for upper: want 1 got 2"
    );
    assert_eq!(
        err(r#"{{ printf }}"#, &[]).message,
        "wrong number of args for printf: want at least 1 got 0"
    );
    assert_eq!(
        err(r#"{{ .A "x" }}"#, &[("A", "")]).message,
        "A is not a method but has arguments"
    );
    assert_eq!(
        err(r#"{{ "x" | .A }}"#, &[("A", "")]).message,
        "A is not a method but has arguments"
    );
    assert_eq!(
        err(r#"{{ $x := 1 }}{{ $x 2 }}"#, &[]).message,
        "can't give argument to non-function $x"
    );
    assert_eq!(
        err(r#"{{ .A.B }}"#, &[("A", "s")]).message,
        "can't evaluate field B in type string"
    );
}

// ---- errors and their locations ----

#[test]
fn unknown_function_is_a_parse_error_at_its_position() {
    let e = Template::parse("t", "line one\n  x {{ foo .A }}").expect_err("must fail");
    assert_eq!(e.message, "function \"foo\" not defined");
    assert_eq!((e.line, e.column), (2, 8));
    assert_eq!(e.to_string(), "2:8: function \"foo\" not defined");
}

#[test]
fn unclosed_action_points_at_its_opening() {
    let e = Template::parse("t", "a\nb {{ .X \nc").expect_err("must fail");
    assert_eq!((e.line, e.column), (2, 3));
    assert!(e.message.contains("unclosed action"), "{e}");
}

#[test]
fn missing_end_points_at_the_block() {
    let e = Template::parse("t", "x\n{{ if .A }}\ny\n{{ range .B }}z{{ end }}\n")
        .expect_err("must fail");
    assert_eq!((e.line, e.column), (2, 1));
    assert_eq!(e.message, "missing {{end}} for this {{if}}");
    let e = Template::parse("t", "{{ end }}").expect_err("must fail");
    assert!(e.message.starts_with("unexpected {{end}}"), "{e}");
    let e = Template::parse("t", "{{ if 1 }}{{ else }}{{ else }}{{ end }}").expect_err("must fail");
    assert_eq!((e.line, e.column), (1, 21));
}

#[test]
fn bad_pipelines() {
    let e = Template::parse("t", "{{ .A | }}").expect_err("must fail");
    assert_eq!((e.line, e.column), (1, 7));
    assert!(e.message.contains("missing command"), "{e}");
    let e = Template::parse("t", "ok\n{{ | upper }}").expect_err("must fail");
    assert_eq!((e.line, e.column), (2, 4));
    let e = Template::parse("t", r#"{{ .A | "x" }}"#).expect_err("must fail");
    assert!(
        e.message
            .starts_with("non executable command in pipeline stage 2"),
        "{e}"
    );
    let e = Template::parse("t", "{{ }}").expect_err("must fail");
    assert_eq!(e.message, "missing value for command");
    let e = Template::parse("t", "{{ (upper \"a\" }}").expect_err("must fail");
    assert_eq!(e.message, "unclosed left paren");
    let e = Template::parse("t", "{{ upper \"a\") }}").expect_err("must fail");
    assert_eq!(e.message, "unexpected right paren");
    let e = Template::parse("t", "{{ \"abc }}").expect_err("must fail");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (1, 4, "unterminated quoted string")
    );
    let e = Template::parse("t", "{{ $a, $b := list }}").expect_err("must fail");
    assert_eq!(e.message, "too many declarations in command");
}

#[test]
fn execution_errors_carry_source_positions() {
    let e = err("a\nb\n   {{ index (list 1) 9 }}", &[]);
    assert_eq!((e.line, e.column), (3, 7));
}

// ---- line map ----

#[test]
fn line_map_identity_without_actions() {
    let out = render("t", "a\nb\nc\n", &Data::new()).expect("renders");
    assert_eq!(
        (1..=3).map(|l| out.source_line(l)).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

#[test]
fn line_map_range_expands_one_line_into_many() {
    let src = "head\n{{ range list \"a\" \"b\" \"c\" }}\n- {{ . }}\n{{- end }}\ntail\n";
    let out = render("t", src, &Data::new()).expect("renders");
    assert_eq!(out.text, "head\n\n- a\n- b\n- c\ntail\n");
    let lines: Vec<usize> = (1..=6).map(|l| out.source_line(l)).collect();
    // "head"=1, the newline after the range action=2, each "- x" comes from line 3, "tail"=5.
    assert_eq!(lines, vec![1, 2, 3, 3, 3, 5]);
}

#[test]
fn line_map_multi_line_if_removes_lines() {
    let src = "a\n{{ if .X }}\nb\nc\n{{ end }}\nd\ne\n";
    let out = render("t", src, &Data::new()).expect("renders");
    assert_eq!(out.text, "a\n\nd\ne\n");
    let lines: Vec<usize> = (1..=4).map(|l| out.source_line(l)).collect();
    assert_eq!(lines, vec![1, 5, 6, 7]);
    let out = render("t", src, &data(&[("X", "1")])).expect("renders");
    assert_eq!(out.text, "a\n\nb\nc\n\nd\ne\n");
    let lines: Vec<usize> = (1..=7).map(|l| out.source_line(l)).collect();
    assert_eq!(lines, vec![1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn line_map_trim_joins_lines() {
    let src = "a:\n  {{- if true }}\n  b\n{{- end }}\nc\n";
    let out = render("t", src, &Data::new()).expect("renders");
    assert_eq!(out.text, "a:\n  b\nc\n");
    let lines: Vec<usize> = (1..=3).map(|l| out.source_line(l)).collect();
    // "a:" + newline from line 2 joined onto line 1; "  b" from line 3; "c" from line 5.
    assert_eq!(lines, vec![1, 3, 5]);
}

#[test]
fn line_map_action_output_spanning_lines_maps_to_the_action() {
    let src = "x\ny: {{ nindent 2 \"p\\nq\" }}\nz\n";
    let out = render("t", src, &Data::new()).expect("renders");
    assert_eq!(out.text, "x\ny: \n  p\n  q\nz\n");
    let lines: Vec<usize> = (1..=5).map(|l| out.source_line(l)).collect();
    assert_eq!(lines, vec![1, 2, 2, 2, 3]);
    // Past the end clamps to the last line.
    assert_eq!(out.source_line(99), 3);
}

#[test]
fn rendering_large_input_is_linear() {
    let mut src = String::new();
    for i in 0..20_000 {
        src.push_str(&format!("line {i}: {{{{ .V }}}}\n"));
    }
    let start = std::time::Instant::now();
    let out = render("t", &src, &data(&[("V", "x")])).expect("renders");
    assert_eq!(out.line_count(), 20_000);
    assert_eq!(out.source_line(12_345), 12_345);
    // Generous bound (debug build, shared machine): quadratic building would take far longer.
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn template_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
    assert_send_sync::<Rendered>();
}

#[test]
fn malformed_input_never_panics() {
    // Deterministic soup of template fragments, including truncated and multi-byte pieces.
    let pieces = [
        "{{",
        "}}",
        "{{-",
        " -}}",
        " ",
        "\n",
        ".A",
        ".B.C",
        "$",
        "$x",
        ":=",
        "=",
        "|",
        "(",
        ")",
        "\"s",
        "\"",
        "`",
        "'",
        "'a'",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "-",
        "3",
        "0x",
        "1e",
        ".",
        ",",
        "eq",
        "printf",
        "\"%d\"",
        "index",
        "slice",
        "substr",
        "é",
        "/*",
        "*/",
        "nil",
        "true",
        "regexReplaceAll",
        "\"(\"",
        "len",
        "}",
        "{",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let vars = data(&[("A", "a"), ("B", "b")]);
    for _ in 0..20_000 {
        let len = (next() % 12) as usize;
        let src: String = (0..len)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect();
        match render("fuzz", &src, &vars) {
            Ok(out) => assert!(out.source_line(1) >= 1),
            Err(e) => assert!(e.line >= 1 && e.column >= 1, "{src:?}: {e}"),
        }
    }
}

#[test]
fn variable_uses_list_top_level_reads_with_positions() {
    let src = "a: {{ .VERSION }}\n{{ if eq .ARCH \"x\" }}b: {{ .A.B }}{{ end }}\nc: {{ $x := .C }}{{ $x.D }}{{ (.E).F }}\n";
    let uses = crate::variable_uses(src).unwrap();
    let names: Vec<(&str, usize)> = uses.iter().map(|u| (u.name.as_str(), u.line)).collect();
    assert_eq!(
        names,
        [("VERSION", 1), ("ARCH", 2), ("A", 2), ("C", 3), ("E", 3)]
    );
    assert_eq!(uses[0].column, 7);
    assert!(crate::variable_uses("{{ .A ").is_err());
}

// ---- limits: no template hangs, overflows the stack or exhausts memory ----

#[test]
fn a_huge_until_is_refused_at_its_position() {
    let e = err("a\n{{ range $i := until 100000000 }}x{{ end }}", &[]);
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("limited to 1000000 items"), "{e}");
}

#[test]
fn execution_steps_are_bounded() {
    // A million iterations of a body with an action: over the step limit, refused quickly.
    let e = err("{{ range $i := until 1000000 }}{{ $i }}{{ end }}", &[]);
    assert!(e.message.contains("1000000 execution steps"), "{e}");
    assert_eq!(e.line, 1);
    // A range over an integer counts too.
    let e = err("\n{{ range 100000000 }}x{{ end }}", &[]);
    assert!(e.message.contains("at most 1000000 iterations"), "{e}");
    assert_eq!(e.line, 2);
}

#[test]
fn what_functions_build_costs_steps_like_what_they_read() {
    // Each call takes a tiny argument and returns a million items or bytes: charged for the result,
    // a loop of them stops at the step limit instead of running for seconds.
    for src in [
        "{{ range until 300 }}{{ $x := until 1000000 }}{{ end }}",
        "{{ $s := repeat 1000000 \"x\" }}{{ range until 30 }}{{ $x := splitList \"\" $s }}{{ end }}",
        "{{ range until 300 }}{{ $x := repeat 1000000 \"x\" }}{{ end }}",
        "{{ $s := repeat 1000000 \"x\" }}{{ range until 300 }}{{ $x := upper $s }}{{ end }}",
    ] {
        let e = err(src, &[]);
        assert!(e.message.contains("1000000 execution steps"), "{src}: {e}");
    }
    // Reading a large string variable is not a call: it costs one step, however long the string.
    let out = render(
        "t",
        "{{ $s := repeat 1000000 \"x\" }}{{ range until 1000 }}{{ $x := $s }}{{ if $s }}{{ end }}{{ end }}done",
        &Data::new(),
    )
    .unwrap();
    assert_eq!(out.text, "done");
}

#[test]
fn rendered_size_is_bounded() {
    let e = err(
        "ok\n{{ $s := repeat 4000000 \"x\" }}{{ range until 5 }}{{ $s }}{{ end }}",
        &[],
    );
    assert!(e.message.contains("exceed 16 MiB"), "{e}");
    assert_eq!(e.line, 2);
    // Functions refuse to build strings past the limit before allocating them.
    for src in [
        r#"{{ repeat 100000000 "xyz" }}"#,
        r#"{{ indent 100000000 "a" }}"#,
        r#"{{ $s := repeat 1000000 "ab" }}{{ replace "" $s $s }}"#,
    ] {
        let e = err(src, &[]);
        assert!(e.message.contains("MiB limit"), "{src}: {e}");
    }
}

#[test]
fn printf_ignores_widths_go_calls_too_large() {
    // Go's fmt treats a width above 10^6 as absent and such a precision as `.0`.
    assert_eq!(
        r(r#"{{ printf "%2000000000d|%.3000000s" 7 "ab" }}"#, &[]),
        "7|"
    );
    assert_eq!(r(r#"{{ printf "%5d" 7 }}"#, &[]), "    7");
}

#[test]
fn nesting_is_bounded() {
    let deep_ifs = format!("{}x{}", "{{ if 1 }}".repeat(101), "{{ end }}".repeat(101));
    let e = err(&deep_ifs, &[]);
    assert!(e.message.contains("nested more than 100 deep"), "{e}");
    let ok_ifs = format!("{}x{}", "{{ if 1 }}".repeat(100), "{{ end }}".repeat(100));
    assert_eq!(r(&ok_ifs, &[]), "x");
    let deep_parens = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(err(&deep_parens, &[]).message.contains("nested more than"));
    // A define that nests blocks and calls itself stops at the depth limit, not the stack's.
    let recursive = format!(
        r#"{{{{ define "d" }}}}{}{{{{ template "d" }}}}{}{{{{ end }}}}{{{{ template "d" }}}}"#,
        "{{ if 1 }}".repeat(99),
        "{{ end }}".repeat(99)
    );
    assert!(err(&recursive, &[])
        .message
        .contains("maximum template depth"));
}
