"""Classify texts with an exported sentiment SavedModel (what TF Serving would answer).

    python -m apps.sentiment.predict --saved_model=saved_models/sentiment "a joyous film" "dull"
    echo "a joyous film" | python -m apps.sentiment.predict --saved_model=saved_models/sentiment
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.sentiment.task import SentimentTask
    cli.predict(SentimentTask, default_saved_model="saved_models/sentiment")
