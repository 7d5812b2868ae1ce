"""Documents benchmark: PAdES signatures per second (PKCS#12 loaded key, PKCS#11
SoftHSM2), B-T/B-LT latency with the loopback TSA/OCSP, and render (warm
LibreOffice pool) + sign throughput and single-document latency.

Run: .venv/bin/python bench/documents/bench_documents.py [--batch 500]
Figures go to bench/documents/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("PROCEDO_ENV", "demo")  # benchmarks run on demo secrets, never in production

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from pyhanko.sign import signers  # noqa: E402

from documents import conf, hsm, pipeline, pki, render, samples, signing  # noqa: E402
from documents.pki import asn1_cert  # noqa: E402

RESULTS = Path(__file__).parent / "RESULTS.md"


def rate(fn, n: int) -> tuple[float, float]:
    fn()  # warm
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    elapsed = time.perf_counter() - t0
    return n / elapsed, elapsed / n * 1000


def latencies(fn, n: int) -> list[float]:
    fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--sigs", type=int, default=300)
    args = parser.parse_args()

    call_command("documents_setup")
    pki_dir = conf.documents_var_dir() / "pki"
    lines = [f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.", ""]

    render.start_pool(os.cpu_count() or 1)
    try:
        base_pdf = pipeline.render_pdf(samples.certificato_docx(), samples.certificato_data(), code="bench",
                                       signer_name="Bench", signer_role="Ufficiale d'anagrafe")
        p12 = str(pki_dir / "signer-demo.p12")
        loaded = signing.pkcs12_signer(p12, "demo")

        def plain_pyhanko():
            s = signers.SimpleSigner.load_pkcs12(p12, passphrase=b"demo")
            signers.sign_pdf(
                __import__("pyhanko.pdf_utils.incremental_writer", fromlist=["x"]).IncrementalPdfFileWriter(
                    __import__("io").BytesIO(base_pdf)),
                signers.PdfSignatureMetadata(field_name="Firma"), signer=s)

        r_plain, ms_plain = rate(plain_pyhanko, 40)
        r_p12, ms_p12 = rate(lambda: signing.sign_pdf(base_pdf, signer=loaded), args.sigs)
        hsm.activate()
        token = signing.pkcs11_signer(lib=hsm.module_path(), token_label=hsm.TOKEN_LABEL, pin=hsm.USER_PIN,
                                      key_label=hsm.KEY_LABEL)
        r_p11, ms_p11 = rate(lambda: signing.sign_pdf(base_pdf, signer=token.signer), args.sigs // 2)
        token.close()

        trust = pki.LocalTrustServices().start()
        try:
            issued = trust.issue_signer("Bench signer")
            tmp = conf.documents_var_dir() / "bench-signer.p12"
            tmp.write_bytes(issued.pkcs12("bench", [trust.ca.cert]))
            bt_signer = signing.pkcs12_signer(str(tmp), "bench")
            vc = signing.validation_context_for([asn1_cert(trust.ca.cert)])
            bt = latencies(lambda: signing.sign_pdf(base_pdf, signer=bt_signer, level=signing.Level.B_T,
                                                    tsa_url=trust.tsa_url), 30)
            blt = latencies(lambda: signing.sign_pdf(
                base_pdf, signer=bt_signer, level=signing.Level.B_LT, tsa_url=trust.tsa_url,
                validation_context=signing.validation_context_for([asn1_cert(trust.ca.cert)])), 30)
            del vc
            tmp.unlink()
        finally:
            trust.stop()

        template = samples.certificato_docx()

        def one(i: int = 0) -> bytes:
            return pipeline.produce(template, samples.certificato_data(i), signer=loaded, signer_name="Bench",
                                    signer_role="Ufficiale d'anagrafe").pdf

        single = latencies(one, 30)
        workers = (os.cpu_count() or 1) * 2
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outputs = list(pool.map(one, range(args.batch)))
        batch_s = time.perf_counter() - t0
        assert all(o.startswith(b"%PDF-") for o in outputs)
    finally:
        render.stop_pool()

    lines += [
        "| measure | figure |",
        "|---|---|",
        f"| PAdES B-B, pyHanko default path (SimpleSigner.load_pkcs12 per signature) | {r_plain:.1f} sig/s ({ms_plain:.1f} ms) |",
        f"| PAdES B-B, PKCS#12 key kept loaded + fixed CMS reservation + constant CMS parts encoded once, 1 core | {r_p12:.1f} sig/s ({ms_p12:.1f} ms) |",
        f"| PAdES B-B, PKCS#11 SoftHSM2 token (constant CMS parts encoded once) | {r_p11:.1f} sig/s ({ms_p11:.1f} ms) |",
        f"| PAdES B-T latency, loopback TSA (median / p95 of 30) | {statistics.median(bt):.0f} / {sorted(bt)[int(len(bt) * .95) - 1]:.0f} ms |",
        f"| PAdES B-LT latency, loopback TSA + OCSP (median / p95 of 30) | {statistics.median(blt):.0f} / {sorted(blt)[int(len(blt) * .95) - 1]:.0f} ms |",
        f"| render (warm pool, {os.cpu_count()} unoserver) + sign, two-page certificate, single document (median / p95 of 30) | {statistics.median(single):.0f} / {sorted(single)[int(len(single) * .95) - 1]:.0f} ms |",
        f"| render + sign, batch of {args.batch}, {workers} threads over the pool | {args.batch / batch_s:.1f} docs/s ({batch_s:.1f} s) |",
    ]
    RESULTS.write_text("# Documents benchmark\n\nWritten by `bench/documents/bench_documents.py`.\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
