from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("django_ses_query", "0006_templates"),
    ]

    operations = [
        migrations.AddField(
            model_name="emaillog",
            name="claim",
            field=models.CharField(blank=True, default="", editable=False, max_length=32, verbose_name="claim"),
        ),
    ]
