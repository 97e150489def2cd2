//! What is refused: every unsupported or forbidden construct is a positioned error of the
//! right kind.

use super::*;

/// Every rejected construct, with its exact position and message.
#[test]
fn unsupported_constructs_are_positioned_errors() {
    let f = "/repo/.chef/knife.rb";
    let cases: &[(&str, &str)] = &[
        (
            "name 'x'\n  `rm -rf /`\n",
            "2:3: backtick commands are not supported",
        ),
        ("x = %x(ls)", "1:5: backtick commands are not supported"),
        (
            "system('ls')",
            "1:1: system(...) is not allowed: chef-sync never runs commands",
        ),
        ("\neval 'name 1'", "2:1: eval is not allowed"),
        (
            "instance_eval { }",
            "1:1: instance_eval with a block is not allowed",
        ),
        ("'x'.send(:upcase)", "1:1: send is not allowed"),
        (
            "require 'net/http'\nNet::HTTP.get('h', '/')",
            "2:1: constant Net::HTTP is not supported",
        ),
        ("foo 'bar'", "1:1: undefined method 'foo'"),
        (
            "name 'a'\nfoo",
            "2:1: undefined local variable or method 'foo'",
        ),
        (
            "x = 1\nif x =~ /a/ then 1 end",
            "2:9: regular expressions are not supported",
        ),
        ("while true do end", "1:1: loops are not supported"),
        (
            "class Foo; end",
            "1:1: class and module definitions are not supported",
        ),
        ("@@x = 1", "1:1: class variables are not supported"),
        (
            "Chef::Config[:x]",
            "1:1: Chef::Config is only available in knife.rb/config.rb",
        ),
        ("Dir.glob('**/*.rb')", "1:1: Dir.glob is not supported"),
        (
            "'a'.squeeze",
            "1:1: method 'squeeze' of String is not supported",
        ),
        (
            "YAML.load_file('x.yml')",
            "1:1: YAML.load_file is not available here",
        ),
        ("fail_here 1", "1:1: bad argument"),
        (
            "name(",
            "1:6: syntax error: unexpected end-of-input; expected a `)` to close the arguments",
        ),
        // A rescue modifier never hides a sandbox refusal.
        (
            "system('ls') rescue nil",
            "1:1: system(...) is not allowed: chef-sync never runs commands",
        ),
        (
            "x = `id` rescue nil",
            "1:5: backtick commands are not supported",
        ),
    ];
    for (src, want) in cases {
        let got = err_of(src, &["name", "fail_here"]);
        assert_eq!(got, format!("{f}:{want}"), "source: {src:?}");
    }
}

#[test]
fn error_kinds_are_classified() {
    let e = run("system('x')", &[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotAllowed);
    let e = run("nil.strip", &[]).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Runtime, "undefined method 'strip' for nil")
    );
    let e = run("foo(", &[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(value_of("nil.strip rescue 'ok'"), s("ok"));
}
