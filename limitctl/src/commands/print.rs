//! `print`: write the sheet as PNG, SVG and PDF, owner-only (the sheet is as good as the
//! paper it is printed on).

use anyhow::{Context, Result};
use sluice_fsutil::{write_file, Access, Existing};

use crate::cli::PrintArgs;
use crate::sheet::{pdf, png, svg, Sheet};

pub fn print(args: &PrintArgs) -> Result<()> {
    let signed = crate::command_file::read(&args.command)?;
    let sheet = Sheet::for_command(&signed)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let png_path = args.out.join("command.png");
    let svg_path = args.out.join("command.svg");
    let pdf_path = args.out.join("command.pdf");
    write_file(
        &png_path,
        &png::render_png(&sheet)?,
        Access::OwnerOnly,
        Existing::Replace,
    )?;
    write_file(
        &svg_path,
        svg::render(&sheet).as_bytes(),
        Access::OwnerOnly,
        Existing::Replace,
    )?;
    write_file(
        &pdf_path,
        &pdf::render(&sheet),
        Access::OwnerOnly,
        Existing::Replace,
    )?;
    println!("{}", sheet.headline);
    for line in sheet.detail_lines() {
        println!("  {line}");
    }
    println!(
        "QR code: version {}-M ({} characters)",
        sheet.qr.version,
        sheet.qr_text.len()
    );
    println!(
        "Wrote {}, {} and {}",
        png_path.display(),
        svg_path.display(),
        pdf_path.display()
    );
    println!("Print at 100 % on A6 (105 x 148 mm), check the printout scans with `limitctl inspect`, then seal it.");
    Ok(())
}
