//! Finds where a field path (`hosts[1].address`) sits in a YAML text, so
//! that validation problems carry a line and column like parse errors do.
//!
//! A small reader for the YAML that specs are written in: block mappings
//! and sequences, and flow mappings and sequences (`{ a: 1 }`, `[a, b]`).
//! It returns `None` for anything it does not understand; it never panics.

/// A node: where its content starts, and the flow text when it is inline.
#[derive(Clone, Copy)]
enum Node<'a> {
    Block { line: usize, col: usize },
    Flow { line: usize, col: usize, text: &'a str },
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Option<Vec<Seg<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Seg::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
    }
    Some(out)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// 1-based (line, column) of the value or key at `path`.
pub(crate) fn locate(yaml: &str, path: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = yaml.lines().collect();
    let first = lines.iter().position(|l| !is_blank(l) && !l.starts_with("---"))?;
    let mut node = Node::Block { line: first, col: indent(lines[first]) };
    let mut at = (first, indent(lines[first]));
    for seg in segments(path)? {
        let (n, pos) = match (node, seg) {
            (Node::Block { line, col }, Seg::Key(k)) => block_key(&lines, line, col, k)?,
            (Node::Block { line, col }, Seg::Index(i)) => block_index(&lines, line, col, i)?,
            (Node::Flow { line, col, text }, seg) => flow_child(line, col, text, seg)?,
        };
        node = n;
        at = pos;
    }
    Some((at.0 + 1, at.1 + 1))
}

/// The node that starts at `col` of `line` with text `rest` (a value after `key:` or `- `).
fn value_node<'a>(lines: &[&'a str], line: usize, col: usize, parent_col: usize) -> Option<Node<'a>> {
    let text = lines[line].get(col..)?;
    let t = text.trim_start();
    let col = col + (text.len() - t.len());
    if t.is_empty() || t.starts_with('#') {
        // A block child on the next lines (a sequence may sit at the parent's column).
        let next = (line + 1..lines.len()).find(|&j| !is_blank(lines[j]))?;
        let c = indent(lines[next]);
        if c > parent_col || (c == parent_col && lines[next][c..].starts_with("- ")) {
            return Some(Node::Block { line: next, col: c });
        }
        return None;
    }
    if t.starts_with('{') || t.starts_with('[') {
        return Some(Node::Flow { line, col, text: t });
    }
    Some(Node::Block { line, col })
}

fn block_key<'a>(lines: &[&'a str], start: usize, col: usize, key: &str) -> Option<(Node<'a>, (usize, usize))> {
    for (i, l) in lines.iter().enumerate().skip(start) {
        if is_blank(l) {
            continue;
        }
        if i > start && indent(l) < col {
            return None;
        }
        if i > start && indent(l) != col {
            continue;
        }
        let text = l.get(col..)?;
        if let Some(after) = text.strip_prefix(key)
            && let Some(v) = after.strip_prefix(':')
            && (v.is_empty() || v.starts_with(' '))
        {
            let vcol = col + key.len() + 1;
            let node = value_node(lines, i, vcol, col)?;
            let pos = match node {
                Node::Flow { line, col, .. } => (line, col),
                Node::Block { line, col } if line == i => (line, col),
                Node::Block { .. } => (i, col),
            };
            return Some((node, pos));
        }
    }
    None
}

fn block_index<'a>(lines: &[&'a str], start: usize, col: usize, index: usize) -> Option<(Node<'a>, (usize, usize))> {
    let mut n = 0;
    for (i, l) in lines.iter().enumerate().skip(start) {
        if is_blank(l) {
            continue;
        }
        if indent(l) < col {
            return None;
        }
        if indent(l) != col {
            continue;
        }
        if !l[col..].starts_with("- ") && l[col..].trim_end() != "-" {
            return None;
        }
        if n == index {
            let node = value_node(lines, i, col + 2, col)?;
            let pos = match node {
                Node::Flow { line, col, .. } | Node::Block { line, col } => (line, col),
            };
            return Some((node, pos));
        }
        n += 1;
    }
    None
}

/// The child of a flow node: a key of `{...}` or an element of `[...]`.
fn flow_child<'a>(line: usize, col: usize, text: &'a str, seg: Seg<'_>) -> Option<(Node<'a>, (usize, usize))> {
    let open = text.chars().next()?;
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut item_start = 1;
    let mut index = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'"' | b'\'' => quote = Some(b),
            b'{' | b'[' => depth += 1,
            b'}' | b']' | b',' => {
                if depth == 1 {
                    let item = &text[item_start..i];
                    let lead = item.len() - item.trim_start().len();
                    let item_col = item_start + lead;
                    let item = item.trim();
                    match (&seg, open) {
                        (Seg::Key(k), '{') => {
                            if let Some(v) = item.strip_prefix(k).and_then(|r| r.strip_prefix(':')) {
                                let vlead = v.len() - v.trim_start().len();
                                let vcol = item_col + k.len() + 1 + vlead;
                                let v = v.trim();
                                return Some(if v.starts_with('{') || v.starts_with('[') {
                                    (Node::Flow { line, col: col + vcol, text: &text[vcol..] }, (line, col + vcol))
                                } else {
                                    (Node::Flow { line, col: col + vcol, text: "" }, (line, col + vcol))
                                });
                            }
                        }
                        (Seg::Index(n), '[') if *n == index && !item.is_empty() => {
                            let t = &text[item_col..];
                            return Some((Node::Flow { line, col: col + item_col, text: t }, (line, col + item_col)));
                        }
                        _ => {}
                    }
                    index += 1;
                    item_start = i + 1;
                }
                if b != b',' {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return None;
                    }
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::locate;

    const YAML: &str = "\
# comment
hosts:
  - name: etcd01
    address: 192.168.1.30
    roles: [etcd, node]
  - { name: etcd02, address: 192.168.1.31, ssh: { user: vagrant, port: 0 } }
versions: { etcd: \"3.5\", flannel: '0.26' }
network:
  pod_cidr: 10.244.0.0/16
  backend:
    type: vxlan
    vni: 1
list:
- a
- b
";

    #[test]
    fn finds_block_flow_and_sequence_paths() {
        assert_eq!(locate(YAML, "hosts"), Some((2, 1)));
        assert_eq!(locate(YAML, "hosts[0]"), Some((3, 5)));
        assert_eq!(locate(YAML, "hosts[0].name"), Some((3, 11)));
        assert_eq!(locate(YAML, "hosts[0].address"), Some((4, 14)));
        assert_eq!(locate(YAML, "hosts[0].roles[1]"), Some((5, 19)));
        assert_eq!(locate(YAML, "hosts[1]"), Some((6, 5)));
        assert_eq!(locate(YAML, "hosts[1].address"), Some((6, 30)));
        assert_eq!(locate(YAML, "hosts[1].ssh.port"), Some((6, 72)));
        assert_eq!(locate(YAML, "hosts[1].ssh"), Some((6, 49)));
        assert_eq!(locate(YAML, "versions.flannel"), Some((7, 35)));
        assert_eq!(locate(YAML, "network.pod_cidr"), Some((9, 13)));
        assert_eq!(locate(YAML, "network.backend.vni"), Some((12, 10)));
        assert_eq!(locate(YAML, "list[1]"), Some((15, 3)));
    }

    #[test]
    fn unknown_paths_are_none() {
        assert_eq!(locate(YAML, "hosts[2]"), None);
        assert_eq!(locate(YAML, "network.subnet_len"), None);
        assert_eq!(locate(YAML, "hosts[1].ssh.identity"), None);
        assert_eq!(locate("", "hosts"), None);
        assert_eq!(locate("a: [", "a[0]"), None);
        assert_eq!(locate("a: {b: [1, {c: }", "a.b[1].c"), None);
    }
}
