-- One row per survey comment and support ticket text with its customer (null when the writer is unknown) and its
-- analysis (language, sentiment, topics, key phrases) from int_cx__text_analyses.

with analyses as (
    select * from {{ ref('int_cx__text_analyses') }}
),

identity_map as (
    select * from {{ ref('int_identity__records') }}
    where source in ('survey_responses', 'support_tickets')
),

final as (
    select
        analyses.text_key,
        analyses.source,
        analyses.source_id,
        identity_map.customer_id,
        analyses.language,
        analyses.sentiment_label,
        analyses.sentiment_score,
        analyses.topics,
        analyses.key_phrases,
        analyses.text_length,
        analyses.masked_text,
        analyses.written_at,
        analyses.text_hash,
        analyses.analyser_version,
        analyses.analysed_at
    from analyses
    left join identity_map
        on identity_map.source = analyses.source and identity_map.source_record_id = analyses.source_id
)

select * from final
