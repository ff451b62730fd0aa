//! Prints the supplier-order context as Markdown table rows (used to write
//! `docs/order-mapping.md`; a test checks the document lists every path).

use irp_core::mapping::context::{Scope, paths};

fn main() {
    for (scope, title) in [
        (Scope::SupplierOrder, "order_object"),
        (Scope::Item, "item_object"),
    ] {
        println!("\n### Paths in `{title}`\n\n| Path | Type | Holds |\n|---|---|---|");
        for (path, ty, doc) in paths(scope) {
            println!("| `{path}` | {ty} | {doc} |");
        }
    }
}
