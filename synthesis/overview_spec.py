"""The plan's ``overview:`` section: which analyses the overview compares, grouped and ordered.

```yaml
overview:
  title: Exposures and toxicities against response, survival and infection
  groups:
    - outcome: Complete response (day 28–30)
      rows:
        - {exposure: GC, analysis: gc_cr}
        - {exposure: TCZ, analysis: tcz_cr}
```

Each row names an analysis of the plan and the exposure label shown for it;
groups (outcomes) and rows appear in the order given. The overview itself is
drawn by synthesis.report.overview.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

AnalysisId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=80)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OverviewRowSpec(_Model):
    exposure: str = Field(min_length=1, description="label of the row, e.g. 'GC', 'low-dose GC'")
    analysis: AnalysisId = Field(description="id of an analysis of the plan")


class OverviewGroup(_Model):
    outcome: str = Field(min_length=1, description="heading of the group, e.g. 'Overall survival'")
    rows: list[OverviewRowSpec] = Field(min_length=1)


class OverviewSpec(_Model):
    title: str = "Overview"
    groups: list[OverviewGroup] = Field(min_length=1)

    def unknown_analyses(self, analysis_ids) -> list[str]:
        """One message per row naming an analysis the plan does not have."""
        known = set(analysis_ids)
        return [f"overview.groups[{g}].rows[{r}].analysis: '{row.analysis}' is not an analysis "
                f"of the plan; analyses are: {', '.join(sorted(known))}"
                for g, group in enumerate(self.groups) for r, row in enumerate(group.rows)
                if row.analysis not in known]
