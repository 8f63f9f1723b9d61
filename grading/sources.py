"""Full references for the source tags the grading core cites.

Tags match the source list of the clinical reference (`shared/clinical-reference.md`), so a tag
printed next to a grade resolves to the publication a clinician can check.
"""

from __future__ import annotations

from types import MappingProxyType

SOURCES: MappingProxyType[str, str] = MappingProxyType(
    {
        "S2": (
            "Lee DW, Santomasso BD, Locke FL, et al. ASTCT consensus grading for cytokine release "
            "syndrome and neurologic toxicity associated with immune effector cells. Biol Blood "
            "Marrow Transplant 2019;25:625-638."
        ),
        "S3": (
            "ASTCT CRS consensus grading table with footnotes (Lee et al. 2019), reproduced in "
            "PMC8021214 Table 1. https://pmc.ncbi.nlm.nih.gov/articles/PMC8021214/table/Tab1"
        ),
        "S4": (
            "ASTCT adult ICANS grading table with footnotes (Lee et al. 2019), reproduced in "
            "J Blood Med 2021, PMC8403007 Table 4. "
            "https://pmc.ncbi.nlm.nih.gov/articles/PMC8403007/table/t0004"
        ),
        "S5": (
            "ASTCT adult ICANS grading table with footnotes (Lee et al. 2019), reproduced in "
            "Practical Neurology, Table 2."
        ),
        "S6": (
            "ASTCT CRS and ICANS summary with ICE points and HFNC >6 L/min, OncoTargets Ther 2022, "
            "PMC9327779 Table 2. https://pmc.ncbi.nlm.nih.gov/articles/PMC9327779/table/t0002"
        ),
        "S7": (
            "ICE tool table, Neuro-Oncology Practice 2021, PMC8153820 Table 2. "
            "https://pmc.ncbi.nlm.nih.gov/articles/PMC8153820/table/T2"
        ),
        "S8": (
            "Summary of Lee et al. 2019: pediatric CAPD-based ICANS grading and grade 5 (MDedge). "
            "https://www.mdedge.com/hematology-oncology/article/192202/"
        ),
        "S10": (
            "Children's Hospital of Philadelphia delirium pathway: CAPD scale, scoring and "
            "developmental anchor points. https://www.chop.edu/node/138797"
        ),
        "S11": (
            "Traube C, et al. Cornell Assessment of Pediatric Delirium: a valid, rapid, "
            "observational tool for screening delirium in the PICU. Crit Care Med 2014;42:656-663."
        ),
        "S12": (
            "Santomasso BD, et al. Management of immune-related adverse events in patients treated "
            "with CAR T-cell therapy: ASCO guideline. J Clin Oncol 2021;39:3978-3992."
        ),
        "S21": (
            "Optimizing the post-CAR-T monitoring period (9 centres, n=475). "
            "Blood Adv 2024;8(20):5346."
        ),
        "S25": (
            "Mahadeo KM, et al. Management guidelines for paediatric patients receiving CAR T cell "
            "therapy. Nat Rev Clin Oncol 2019, Table 2."
        ),
        "S39c": (
            "Chinese B-NHL CRS table with the ≤6 / >6 L/min footnote, PMC9978889. "
            "https://pmc.ncbi.nlm.nih.gov/articles/PMC9978889/table/tb001"
        ),
        "S44": (
            "CancerCalc ASTCT CRS and ICANS calculators, interpretive notes. "
            "https://www.cancercalc.com/CRS_grade.php"
        ),
        "TOXBOT-D": (
            "toxbot clinical reference, §0 product decisions (binding choices where ASTCT is "
            "silent or ambiguous), approved by the toxbot clinical team."
        ),
    }
)


def reference(tag: str) -> str:
    """The full reference for a source tag such as ``"S3"``; ``KeyError`` names an unknown tag."""
    return SOURCES[tag]
