//! The sandboxed Ruby evaluator (metadata.rb, knife.rb, Berksfile). Owned by issue 3.
