from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("django_ses_query", "0002_events_queue_outcome"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="emailevent",
            constraint=models.UniqueConstraint(
                fields=("sns_message_id", "event_type", "recipient"),
                condition=~models.Q(sns_message_id=""),
                name="sesq_event_once",
            ),
        ),
    ]
