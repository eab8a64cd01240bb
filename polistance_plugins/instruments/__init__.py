"""The instruments: questionnaire, compass (with the user's PCT file), elaboration targets. Each turns
items into forms, forms into prompts and answer distributions into records; scale directions and
option orders are decided here once. No torch and no harness imports."""
