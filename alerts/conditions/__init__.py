"""Alert conditions: for each alert type, its thresholds (a pydantic model), the pure function that
judges one evaluation row against them, and the same condition as a SQL predicate.

An evaluation row is a mapping with the account's `signals.account_signals_daily` row for a day,
its `signals.account_baselines` row for that day, its health score as of then, and facts derived
from recent signal history (`DERIVED_COLUMNS`, computed by `alerts.frame`). Evaluators never touch
the warehouse, so each can be tested with a dict.

Adding an alert type: write its thresholds model, evaluator and SQL form in the module of its
family, register it in `ALERT_TYPES`, give it an entry in alert_rules.yml and a playbook in
playbooks.yml (both files must cover every type).
"""

from alerts.conditions.base import (
    DERIVED_COLUMNS,
    HISTORY_DAYS,
    AlertTypeSpec,
    Finding,
    Row,
    Thresholds,
    TuningKnob,
    fmt_number,
    lit,
    partial_model,
)
from alerts.conditions.commercial import (
    CANCELLATION_REQUEST,
    PAYMENT_FAILURE,
    PROCUREMENT_FREEZE,
    RENEWAL_RISK,
    CancellationRequestThresholds,
    PaymentFailureThresholds,
    ProcurementFreezeThresholds,
    RenewalRiskThresholds,
    cancellation_request,
    payment_failure,
    procurement_freeze,
    renewal_risk,
)
from alerts.conditions.engagement import (
    CHAMPION_DARK,
    NPS_DROP,
    STAKEHOLDER_TURNOVER,
    SURVEY_NONRESPONSE,
    ChampionDarkThresholds,
    NpsDropThresholds,
    StakeholderTurnoverThresholds,
    SurveyNonresponseThresholds,
    champion_dark,
    nps_drop,
    stakeholder_turnover,
    survey_nonresponse,
)
from alerts.conditions.model import HEALTH_CLASS_CHANGE, HealthClassChangeThresholds, health_class_change
from alerts.conditions.support import (
    ESCALATION,
    NEGATIVE_SENTIMENT,
    TICKET_SPIKE,
    EscalationThresholds,
    NegativeSentimentThresholds,
    TicketSpikeThresholds,
    escalation,
    negative_sentiment,
    ticket_spike,
)
from alerts.conditions.usage import (
    API_DEGRADATION,
    EXPANSION_SIGNAL,
    FEATURE_ABANDONMENT,
    PRODUCT_ABANDONMENT,
    USAGE_DROP,
    USAGE_METRIC_LABELS,
    ApiDegradationThresholds,
    ExpansionSignalThresholds,
    FeatureAbandonmentThresholds,
    ProductAbandonmentThresholds,
    UsageDropThresholds,
    api_degradation,
    expansion_signal,
    feature_abandonment,
    product_abandonment,
    usage_drop,
)

# The seventeen types of DESIGN.md ("Alerts"), in its order: rules are evaluated in this order.
ALERT_TYPES: dict[str, AlertTypeSpec] = {
    spec.name: spec
    for spec in (
        USAGE_DROP,
        FEATURE_ABANDONMENT,
        PRODUCT_ABANDONMENT,
        API_DEGRADATION,
        NPS_DROP,
        SURVEY_NONRESPONSE,
        CHAMPION_DARK,
        STAKEHOLDER_TURNOVER,
        TICKET_SPIKE,
        ESCALATION,
        NEGATIVE_SENTIMENT,
        PAYMENT_FAILURE,
        CANCELLATION_REQUEST,
        RENEWAL_RISK,
        PROCUREMENT_FREEZE,
        HEALTH_CLASS_CHANGE,
        EXPANSION_SIGNAL,
    )
}

__all__ = [
    "ALERT_TYPES",
    "DERIVED_COLUMNS",
    "HISTORY_DAYS",
    "USAGE_METRIC_LABELS",
    "AlertTypeSpec",
    "ApiDegradationThresholds",
    "CancellationRequestThresholds",
    "ChampionDarkThresholds",
    "EscalationThresholds",
    "ExpansionSignalThresholds",
    "FeatureAbandonmentThresholds",
    "Finding",
    "HealthClassChangeThresholds",
    "NegativeSentimentThresholds",
    "NpsDropThresholds",
    "PaymentFailureThresholds",
    "ProcurementFreezeThresholds",
    "ProductAbandonmentThresholds",
    "RenewalRiskThresholds",
    "Row",
    "StakeholderTurnoverThresholds",
    "SurveyNonresponseThresholds",
    "Thresholds",
    "TicketSpikeThresholds",
    "TuningKnob",
    "UsageDropThresholds",
    "api_degradation",
    "cancellation_request",
    "champion_dark",
    "escalation",
    "expansion_signal",
    "feature_abandonment",
    "fmt_number",
    "health_class_change",
    "lit",
    "negative_sentiment",
    "nps_drop",
    "partial_model",
    "payment_failure",
    "procurement_freeze",
    "product_abandonment",
    "renewal_risk",
    "stakeholder_turnover",
    "survey_nonresponse",
    "ticket_spike",
    "usage_drop",
]
